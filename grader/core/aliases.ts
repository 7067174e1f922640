// The import aliases every exercise, test and tool shares (tsconfig.json "paths" says the same for tsc).
import { join } from 'node:path';

export interface Alias {
  readonly find: RegExp;
  readonly replacement: string;
}

/** `@dlab/harness`, `@dlab/testkit` and `@solutions/...`; `@impl/...` is resolved per run by the runner. */
export function aliases(root: string): Alias[] {
  return [
    { find: /^@dlab\/harness$/, replacement: join(root, 'harness', 'index.ts') },
    { find: /^@dlab\/harness\//, replacement: join(root, 'harness') + '/' },
    { find: /^@dlab\/testkit$/, replacement: join(root, 'grader', 'testkit', 'index.ts') },
    { find: /^@solutions\//, replacement: join(root, 'solutions') + '/' },
  ];
}
