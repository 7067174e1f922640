// The storm rule of the exercises whose nodes resend over a lossy network: every frame a node sends a peer is
// paid for, by a frame it received from that peer in the last `windowMs` (an answer, once each), else by an
// allowance of `extra` frames per `windowMs`, else by one of the credits the hidden test grants that link (one
// per payload handed over, one per message broadcast). A frame nothing pays for is a retransmission storm.

/** Frames per link, from the trace's sends and deliveries. Links are named `from→to`. */
export class FrameBudget {
  /** "x→y": the times of unspent receipts by x of frames from y. */
  private readonly answers = new Map<string, number[]>();
  /** "x→y": the times of the frames the allowance paid for. */
  private readonly allowance = new Map<string, number[]>();
  private readonly spentCredits = new Map<string, number>();
  private readonly sends = new Map<string, number[]>();

  constructor(
    readonly windowMs: number,
    readonly extra: number,
  ) {}

  /** `to` received a frame from `from` at `t`: it pays for one frame from `to` back to `from` within the window. */
  delivered(to: string, from: string, t: number): void {
    list(this.answers, `${to}→${from}`).push(t);
  }

  /**
   * `from` sent `to` a frame at `t`; `credits` is how many credits the link has been granted so far. False when
   * nothing pays for the frame.
   */
  sent(from: string, to: string, t: number, credits: number): boolean {
    const key = `${from}→${to}`;
    list(this.sends, key).push(t);
    const ans = this.expired(list(this.answers, key), t);
    if (ans.length > 0) {
      ans.shift();
      return true;
    }
    const free = this.expired(list(this.allowance, key), t);
    if (free.length < this.extra) {
      free.push(t);
      return true;
    }
    const spent = this.spentCredits.get(key) ?? 0;
    if (spent < credits) {
      this.spentCredits.set(key, spent + 1);
      return true;
    }
    return false;
  }

  /** Frames `from` sent `to`: in the window up to `t`, and in all. */
  count(from: string, to: string, t: number): { readonly recent: number; readonly all: number } {
    const l = this.sends.get(`${from}→${to}`) ?? [];
    let recent = 0;
    for (let j = l.length - 1; j >= 0 && (l[j] as number) > t - this.windowMs; j--) recent++;
    return { recent, all: l.length };
  }

  private expired(l: number[], t: number): number[] {
    while (l.length > 0 && (l[0] as number) <= t - this.windowMs) l.shift();
    return l;
  }
}

function list(m: Map<string, number[]>, k: string): number[] {
  let l = m.get(k);
  if (l === undefined) m.set(k, (l = []));
  return l;
}
