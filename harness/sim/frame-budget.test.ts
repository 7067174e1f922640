import { describe, expect, it } from 'vitest';
import { FrameBudget } from './frame-budget.ts';

describe('FrameBudget', () => {
  it('pays a frame by an answer in the window, then by the allowance, then by a credit, and counts what was sent', () => {
    const b = new FrameBudget(100, 2);
    b.delivered('a', 'b', 0); // a heard b at t=0: one frame a→b is paid until t=100
    expect(b.sent('a', 'b', 50, 0)).toBe(true); // the answer
    expect(b.sent('a', 'b', 51, 0)).toBe(true); // allowance 1
    expect(b.sent('a', 'b', 52, 0)).toBe(true); // allowance 2
    expect(b.sent('a', 'b', 53, 1)).toBe(true); // the one credit
    expect(b.sent('a', 'b', 54, 1)).toBe(false); // a storm
    expect(b.count('a', 'b', 54)).toEqual({ recent: 5, all: 5 });
    // The allowance comes back as its frames leave the window; an answer older than the window pays nothing.
    b.delivered('a', 'b', 60);
    expect(b.sent('a', 'b', 170, 1)).toBe(true);
    expect(b.count('a', 'b', 170)).toEqual({ recent: 1, all: 6 });
    expect(b.count('b', 'a', 170)).toEqual({ recent: 0, all: 0 });
  });
});
