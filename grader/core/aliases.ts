// The import aliases every exercise, test and tool shares (tsconfig.json "paths" says the same for tsc).
import { join } from 'node:path';

export interface Alias {
  readonly find: RegExp;
  readonly replacement: string;
}

/** `@dlab/harness` (and its areas: `/sim`, `/net`, `/lincheck`) and `@solutions/...`; `@impl/...` is resolved per run by the runner. */
export function aliases(root: string): Alias[] {
  return [
    { find: /^@dlab\/harness$/, replacement: join(root, 'harness', 'index.ts') },
    { find: /^@dlab\/harness\/(sim|net|lincheck)$/, replacement: join(root, 'harness', '$1', 'index.ts') },
    { find: /^@dlab\/harness\//, replacement: join(root, 'harness') + '/' },
    { find: /^@solutions\//, replacement: join(root, 'solutions') + '/' },
  ];
}
