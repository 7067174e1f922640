import { describe, expect, it } from 'vitest';
import { exportsOf, typeParams } from './export-types.ts';

describe('export declarations', () => {
  it('lists exported names by kind', () => {
    const src = 'export type A = 1;\nexport interface B {}\nexport class C {}\nexport function d() {}\nexport const e = 1;\nexport async function f() {}\nconst g = 2;\n';
    expect([...(exportsOf(src) as Map<string, string>)]).toEqual([
      ['A', 'type'],
      ['B', 'type'],
      ['C', 'class'],
      ['d', 'value'],
      ['e', 'value'],
      ['f', 'value'],
    ]);
  });

  it('refuses export blocks, which it cannot classify', () => {
    expect(typeof exportsOf('const a = 1;\nexport { a };\n')).toBe('string');
  });

  it('counts type parameters, nested brackets included', () => {
    expect(typeParams('export type Frame<P = unknown> = { p: P };', 'Frame')).toBe(1);
    expect(typeParams('export interface M<K extends string, V = Map<K, number>> {}', 'M')).toBe(2);
    expect(typeParams('export type Plain = number;', 'Plain')).toBe(0);
  });
});
