// Time as one node sees it: a monotonic clock and a wall clock, both with drift; the wall clock also skews and steps.

/** Virtual time 0 on the wall: 2024-01-01T00:00:00Z, so wall clocks look like real dates. */
export const WALL_EPOCH = 1_704_067_200_000;

/** Rounds to the microsecond, so that floating-point dust never reaches a trace or a comparison. */
export function roundTime(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/**
 * Piecewise-linear clocks anchored at the last change: between changes both run at rate 1 + ppm/1e6.
 * Changing the drift re-anchors, so a clock never jumps when only its rate changes.
 */
export class NodeClock {
  private anchor = 0;
  private monoAt = 0;
  private wallAt = WALL_EPOCH;
  private rate = 1;
  private ppmNow = 0;

  /** The current drift in parts per million. */
  get ppm(): number {
    return this.ppmNow;
  }

  mono(t: number): number {
    return roundTime(this.monoAt + (t - this.anchor) * this.rate);
  }

  wall(t: number): number {
    return roundTime(this.wallAt + (t - this.anchor) * this.rate);
  }

  /** How far the wall clock is from true time at `t` (positive: ahead). */
  offset(t: number): number {
    return roundTime(this.wall(t) - (WALL_EPOCH + t));
  }

  /** Virtual ms until this clock has advanced by `ms` (timers run on the local clock). */
  realDelay(ms: number): number {
    return ms > 0 ? ms / this.rate : 0;
  }

  private reanchor(t: number): void {
    this.monoAt = this.monoAt + (t - this.anchor) * this.rate;
    this.wallAt = this.wallAt + (t - this.anchor) * this.rate;
    this.anchor = t;
  }

  /** A boot: the monotonic clock restarts from an arbitrary origin; the wall clock (hardware) keeps going. */
  boot(t: number, monoOrigin: number): void {
    this.reanchor(t);
    this.monoAt = monoOrigin;
  }

  /** DR: both clocks run at 1 + ppm/1e6 from now on. */
  setDrift(t: number, ppm: number): void {
    this.reanchor(t);
    this.ppmNow = ppm;
    this.rate = 1 + ppm / 1e6;
  }

  /** SK: the wall clock jumps to true time + offsetMs. */
  setOffset(t: number, offsetMs: number): void {
    this.reanchor(t);
    this.wallAt = WALL_EPOCH + t + offsetMs;
  }

  /** ST: the wall clock jumps by deltaMs (negative: backwards). */
  step(t: number, deltaMs: number): void {
    this.reanchor(t);
    this.wallAt += deltaMs;
  }
}
