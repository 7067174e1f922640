// Histories: the shared event type, pairing into operations, and the Jepsen log and EDN parsers.
export type { History, HistoryEvent, OpType } from './types.ts';
export { pairOperations, type HistoryError, type HistoryErrorCode, type Operation, type OpStatus, type PairResult } from './operations.ts';
export {
  parseEdnHistory,
  parseHistory,
  parseInitValue,
  parseJepsenLog,
  type HistoryFormat,
  type ParseError,
  type ParseErrorCode,
  type ParseResult,
} from './parse.ts';
export { printEdn, readEdnValue } from './edn.ts';
