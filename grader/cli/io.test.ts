// Colour is decided in one place (colorEnabled), by Node's own rules: checked against Node's getColorDepth.
import { WriteStream } from 'node:tty';
import { describe, expect, it } from 'vitest';
import { colorEnabled, type ColorStream } from './io.ts';

/** Node's own colour depth for an environment (tty.WriteStream#getColorDepth does not read the stream). */
const nodeDepth = (env: Record<string, string>): number => WriteStream.prototype.getColorDepth.call(undefined as never, env);
const terminal: ColorStream = { isTTY: true, getColorDepth: (env) => nodeDepth(env as Record<string, string>) };
const pipe: ColorStream = { isTTY: false };

describe('colorEnabled', () => {
  it('follows the documented variables, in a terminal and in a pipe', () => {
    const xterm = { TERM: 'xterm-256color' };
    expect(colorEnabled(xterm, terminal)).toBe(true);
    expect(colorEnabled(xterm, pipe)).toBe(false);
    // FORCE_COLOR=0 turns colour off even in a terminal; 1, 2, 3 turn it on even in a pipe.
    expect(colorEnabled({ ...xterm, FORCE_COLOR: '0' }, terminal)).toBe(false);
    for (const level of ['1', '2', '3']) expect(colorEnabled({ FORCE_COLOR: level }, pipe), level).toBe(true);
    // NO_COLOR and NODE_DISABLE_COLORS, set to anything, turn it off; TERM=dumb has no colours.
    for (const off of [{ NO_COLOR: '1' }, { NO_COLOR: '' }, { NODE_DISABLE_COLORS: '1' }, { TERM: 'dumb' }]) {
      expect(colorEnabled({ ...xterm, ...off }, terminal), JSON.stringify(off)).toBe(false);
    }
    // FORCE_COLOR wins over NO_COLOR and NODE_DISABLE_COLORS, as in Node.
    expect(colorEnabled({ NO_COLOR: '1', FORCE_COLOR: '1' }, pipe)).toBe(true);
  });

  it("agrees with Node's util.styleText rule on every combination", () => {
    const values = {
      FORCE_COLOR: [undefined, '', '0', '1', '2', '3', 'true', 'false', '4'],
      NO_COLOR: [undefined, '', '1'],
      NODE_DISABLE_COLORS: [undefined, '1'],
      TERM: [undefined, 'dumb', 'xterm', 'xterm-256color'],
    };
    for (const force of values.FORCE_COLOR) {
      for (const no of values.NO_COLOR) {
        for (const disable of values.NODE_DISABLE_COLORS) {
          for (const term of values.TERM) {
            const env: Record<string, string> = {};
            if (force !== undefined) env['FORCE_COLOR'] = force;
            if (no !== undefined) env['NO_COLOR'] = no;
            if (disable !== undefined) env['NODE_DISABLE_COLORS'] = disable;
            if (term !== undefined) env['TERM'] = term;
            // util.styleText (lib/internal/util/colors.js, shouldColorize): FORCE_COLOR set → its depth
            // decides; otherwise the stream must be a TTY whose depth is above 2.
            for (const [stream, tty] of [[terminal, true], [pipe, false]] as const) {
              const node = force !== undefined ? nodeDepth(env) > 2 : tty && nodeDepth(env) > 2;
              expect(colorEnabled(env, stream), `${JSON.stringify(env)} tty=${tty}`).toBe(node);
            }
          }
        }
      }
    }
  });
});
