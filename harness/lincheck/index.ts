// The linearizability checker: models, the check, its one-line assertion, and the history-file command.
export { assertLinearizable, type AssertOptions } from './assert.ts';
export {
  checkLinearizable,
  validateHistory,
  type CheckOptions,
  type CheckResult,
  type Counterexample,
  type CounterexampleOp,
} from './checker.ts';
export { historyCheck, type HistoryCheckIo, type HistoryCheckOptions, type JsonVerdict } from './cli.ts';
export {
  defineModel,
  type AnyModel,
  type Decoded,
  type Defined,
  type Model,
  type ModelSpec,
  type RawInput,
  type StateKey,
} from './model.ts';
export {
  casRegisterModel,
  kvModel,
  MODEL_NAMES,
  modelByName,
  registerModel,
  valueEqual,
  valueKey,
  type ModelName,
  type RegisterOptions,
} from './models.ts';
export { renderCounterexample, type RenderOptions } from './render.ts';
export { pairOperations, parseEdnHistory, parseHistory, parseJepsenLog, parseInitValue, type Operation, type ParseResult } from '../history/index.ts';
export type { History, HistoryEvent, OpType } from '../history/types.ts';
