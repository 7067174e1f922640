import { describe, expect, it } from 'vitest';
import { NodeClock, WALL_EPOCH, roundTime } from './clock.ts';

describe('NodeClock', () => {
  it('starts at true time and runs at rate 1', () => {
    const c = new NodeClock();
    expect(c.wall(0)).toBe(WALL_EPOCH);
    expect(c.wall(250)).toBe(WALL_EPOCH + 250);
    expect(c.mono(250) - c.mono(0)).toBe(250);
    expect(c.offset(100)).toBe(0);
  });

  it('drifts both clocks without a jump when the rate changes', () => {
    const c = new NodeClock();
    c.setDrift(1000, 100_000); // +10 %
    expect(c.wall(1000)).toBe(WALL_EPOCH + 1000);
    expect(c.wall(2000)).toBe(WALL_EPOCH + 2100);
    expect(c.mono(2000) - c.mono(1000)).toBe(1100);
    expect(c.realDelay(110)).toBeCloseTo(100, 9);
    c.setDrift(2000, 0);
    expect(c.wall(3000)).toBe(WALL_EPOCH + 3100);
    expect(c.ppm).toBe(0);
  });

  it('skews and steps only the wall clock, backwards too', () => {
    const c = new NodeClock();
    const m = c.mono(500);
    c.setOffset(500, -2000);
    expect(c.wall(500)).toBe(WALL_EPOCH + 500 - 2000);
    c.step(600, -300);
    expect(c.wall(600)).toBe(WALL_EPOCH + 600 - 2300);
    expect(c.offset(600)).toBe(-2300);
    expect(c.mono(600)).toBe(m + 100);
  });

  it('restarts the monotonic clock from a new origin at boot, keeping the wall clock', () => {
    const c = new NodeClock();
    c.boot(0, 5000);
    expect(c.mono(10)).toBe(5010);
    c.boot(100, 42);
    expect(c.mono(100)).toBe(42);
    expect(c.wall(100)).toBe(WALL_EPOCH + 100);
    expect(roundTime(0.1 + 0.2)).toBe(0.3);
    expect(c.realDelay(-5)).toBe(0);
  });
});
