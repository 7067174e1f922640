// The one way a command asks before doing something: a prompt in a terminal, `--yes` everywhere else.
import { fail } from '../core/errors.ts';
import type { Io } from './io.ts';

export interface Question {
  /** The prompt shown in a terminal: "Reset x to the untouched stub?". */
  readonly prompt: string;
  /** Without a terminal, the one-line reason it cannot go ahead unasked. */
  readonly refusal: string;
  /** Without a terminal, what `--yes` does: "to go ahead", "to see it anyway". */
  readonly yesDoes: string;
}

/** True to go ahead: `yes` was given, or the learner said yes. Without a terminal it never waits: it fails. */
export async function ask(io: Io, q: Question, yes: boolean): Promise<boolean> {
  if (yes) return true;
  if (!io.interactive) fail('bad-usage', q.refusal, `add --yes ${q.yesDoes}`);
  const { confirm, isCancel } = await import('@clack/prompts');
  const ok = await confirm({ message: q.prompt, initialValue: false, input: io.stdin, output: io.stdout as unknown as import('node:stream').Writable });
  return !isCancel(ok) && ok === true;
}
