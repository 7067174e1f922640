// Turns lessons (markdown) and verdicts into terminal text.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Exercise } from '../core/course.ts';
import { scratchDir, shown } from '../core/paths.ts';
import type { Failure, Verdict } from '../runner/grade.ts';
import { paint, type Io, type Paint } from './io.ts';

/** Control sequences that take no room on screen: SGR colours and OSC 8 hyperlinks. */
const ESCAPES = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)/g;
/** Code points that take no column: combining marks, zero-width joiners, variation selectors. */
const ZERO_WIDTH = /[\u0300-\u036f\u200b-\u200f\u2060\ufe00-\ufe0f]/gu;

/** How many columns `s` takes on screen (colour codes take none). */
export function visibleWidth(s: string): number {
  let n = 0;
  for (const _ of s.replace(ESCAPES, '').replace(ZERO_WIDTH, '')) n++;
  return n;
}

/** The width to render prose to: the terminal's (80 without one), capped so that lines stay readable. */
export function textWidth(io: Pick<Io, 'columns'>): number {
  return Math.max(20, Math.min(io.columns - 1, 99));
}

/** `s` cut into pieces of at most `width` columns, never splitting a colour code. */
function chop(s: string, width: number): string[] {
  const parts = s.split(new RegExp(`(${ESCAPES.source})`, 'g'));
  const out: string[] = [];
  let cur = '';
  let w = 0;
  for (const part of parts) {
    if (part === '') continue;
    if (part.startsWith('\u001b')) {
      cur += part;
      continue;
    }
    for (const ch of part) {
      const cw = visibleWidth(ch);
      if (w + cw > width && w > 0) {
        out.push(cur);
        cur = '';
        w = 0;
      }
      cur += ch;
      w += cw;
    }
  }
  if (cur !== '' || out.length === 0) out.push(cur);
  return out;
}

/** Fills words into lines of at most `width` columns: the first after `first`, the rest after `rest`. */
function fill(words: readonly string[], width: number, first: string, rest: string): string[] {
  const lines: string[] = [];
  let cur = first;
  let w = visibleWidth(first);
  let empty = true;
  const room = (prefix: string) => Math.max(1, width - visibleWidth(prefix));
  for (const word of words) {
    if (word === '') continue;
    const ww = visibleWidth(word);
    if (!empty && w + 1 + ww <= width) {
      cur += ' ' + word;
      w += 1 + ww;
      continue;
    }
    if (!empty) {
      lines.push(cur);
      cur = rest;
      w = visibleWidth(rest);
    }
    // Only a word longer than a whole line is split, and then at the line's end.
    let left = word;
    while (left !== '' && w + visibleWidth(left) > width) {
      const [piece, ...more] = chop(left, room(cur));
      lines.push(cur + piece!);
      cur = rest;
      w = visibleWidth(rest);
      left = more.join('');
    }
    cur += left;
    w += visibleWidth(left);
    empty = false;
  }
  lines.push(cur);
  return lines;
}

/** A list marker at the start of a line of text (after its indent): `- `, `• `, `✗ `, `1. `. */
const MARKER = /^(?:[-*•✗✓]|\d{1,3}[.)])\s+/;
/** A diagram or an aligned table: box drawing and the diagram's symbols, or columns aligned by spaces (two gaps or more). */
const DRAWN = /[\u2500-\u257f\u2580-\u25ff\u2295\u2297\u2715]|\S {2,}\S.*\S {2,}\S/;

export interface WrapOptions {
  /** Leave alone lines that are drawn (diagrams, aligned columns) or hold a command to copy. */
  readonly keepPreformatted?: boolean;
}

/**
 * Wraps each line of `text` on word boundaries to `width` columns. A wrapped line's continuation keeps
 * its indent, and hangs under the text after a list marker. Colour codes take no room.
 */
export function wrapText(text: string, width: number, opts: WrapOptions = {}): string {
  return text
    .split('\n')
    .map((line) => {
      if (visibleWidth(line) <= width) return line;
      if (opts.keepPreformatted === true && (DRAWN.test(line) || line.includes('npx dlab '))) return line;
      const indent = /^\s*/.exec(line)![0];
      const body = line.slice(indent.length);
      const marker = MARKER.exec(body.replace(ESCAPES, ''))?.[0] ?? '';
      return fill(body.split(/ +/), width, indent, indent + ' '.repeat(marker.length)).join('\n');
    })
    .join('\n');
}

/** Prose (inline markdown already rendered) as wrapped lines: soft line breaks are spaces, hard ones stay. */
function wrapProse(text: string, width: number, first = '', rest = first): string {
  return text
    .split(HARD_BREAK)
    .map((part) => fill(part.split(/[ \t\n]+/), width, first, rest).join('\n'))
    .join('\n');
}

/** What marked-terminal renders a hard line break as, when it reflows text. */
const HARD_BREAK = '\r';

function unescapeEntities(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#0*39;/g, "'")
    .replace(/&nbsp;/g, '\u00a0')
    .replace(/&amp;/g, '&');
}

const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

const pad = (s: string, width: number, align: 'center' | 'left' | 'right' | null) => {
  const gap = Math.max(0, width - visibleWidth(s));
  if (align === 'right') return ' '.repeat(gap) + s;
  if (align === 'center') return ' '.repeat(Math.floor(gap / 2)) + s + ' '.repeat(gap - Math.floor(gap / 2));
  return s + ' '.repeat(gap);
};

/** Below this a column of prose is too narrow to read; the table is shown as a list instead. */
const MIN_COLUMN = 10;

/**
 * A table within `width` columns: as it is when it fits, else with its columns narrowed and their cells
 * wrapped on word boundaries, else (too many or too wide columns for the terminal) as a list, one item a row.
 * A header row with nothing in it is not drawn.
 */
export function renderTable(
  head: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
  width: number,
  p: Paint,
  align: ReadonlyArray<'center' | 'left' | 'right' | null> = [],
): string {
  const n = Math.max(head.length, ...rows.map((r) => r.length));
  const headed = head.some((h) => visibleWidth(h) > 0);
  const all = headed ? [head, ...rows] : rows;
  const cell = (r: readonly string[], i: number) => r[i] ?? '';
  const natural = Array.from({ length: n }, (_, i) => Math.max(1, ...all.map((r) => visibleWidth(cell(r, i)))));
  const longestWord = Array.from({ length: n }, (_, i) => Math.max(1, ...all.flatMap((r) => cell(r, i).split(/\s+/).map(visibleWidth))));
  const overhead = 3 * n + 1; // a border and two spaces of padding per column, and the last border
  let widths = natural;
  if (natural.reduce((a, b) => a + b, 0) + overhead > width) {
    const floor = natural.map((nat, i) => Math.max(Math.min(longestWord[i]!, 24), Math.min(nat, MIN_COLUMN)));
    const room = width - overhead - floor.reduce((a, b) => a + b, 0);
    if (room < 0) return tableAsList(head, rows, headed, width, p);
    // Share what is left in proportion to what each column still wants.
    const want = natural.map((nat, i) => nat - floor[i]!);
    const wanted = want.reduce((a, b) => a + b, 0);
    widths = floor.map((f, i) => f + Math.floor((room * want[i]!) / Math.max(1, wanted)));
    let spare = width - overhead - widths.reduce((a, b) => a + b, 0);
    for (let i = 0; spare > 0 && i < 4 * n; i++) {
      const j = i % n;
      if (widths[j]! < natural[j]!) widths[j]!++, spare--;
    }
  }
  const layout = (r: readonly string[]) => widths.map((w, i) => wrapProse(cell(r, i), w).split('\n'));
  const body = rows.map(layout);
  const tall = body.some((r) => r.some((c) => c.length > 1));
  const rule = (l: string, m: string, r: string) => p.dim(l + widths.map((w) => '─'.repeat(w + 2)).join(m) + r);
  const bar = p.dim('│');
  const draw = (cells: string[][], style: (s: string) => string) => {
    const height = Math.max(...cells.map((c) => c.length));
    const out: string[] = [];
    for (let k = 0; k < height; k++) {
      out.push(bar + cells.map((c, i) => ` ${pad(style(c[k] ?? ''), widths[i]!, align[i] ?? null)} `).join(bar) + bar);
    }
    return out;
  };
  const out = [rule('┌', '┬', '┐')];
  if (headed) out.push(...draw(layout(head), p.bold), rule('├', '┼', '┤'));
  body.forEach((r, i) => {
    if (i > 0 && tall) out.push(rule('├', '┼', '┤'));
    out.push(...draw(r, (s) => s));
  });
  out.push(rule('└', '┴', '┘'));
  return out.join('\n');
}

/** A table too wide for the terminal, as a list: the first cell heads each item, the others follow it. */
function tableAsList(head: readonly string[], rows: ReadonlyArray<readonly string[]>, headed: boolean, width: number, p: Paint): string {
  const items = rows.map((r) => {
    const lines = [wrapProse(p.bold(r[0] ?? ''), width, '  • ', '    ')];
    for (let i = 1; i < r.length; i++) {
      if (visibleWidth(r[i]!) === 0) continue;
      const label = headed && visibleWidth(head[i] ?? '') > 0 ? `${head[i]}: ` : '';
      lines.push(wrapProse(`${label}${r[i]}`, width, '    '));
    }
    return lines.join('\n');
  });
  return items.join('\n');
}

const indentLines = (s: string, by: string) =>
  s
    .split('\n')
    .map((l) => (l === '' ? l : by + l))
    .join('\n');

/**
 * Renders markdown for the terminal with marked + marked-terminal (loaded only when a lesson is shown), to
 * `textWidth(io)` columns: paragraphs and list items wrapped on word boundaries with a hanging indent,
 * tables narrowed to fit or turned into lists, code blocks never wrapped.
 */
export async function renderMarkdown(md: string, io: Pick<Io, 'color' | 'columns'>): Promise<string> {
  // chalk (under marked-terminal) decides on colour when first loaded; tell it before.
  if (!io.color) process.env['FORCE_COLOR'] = '0';
  const [{ Marked }, { markedTerminal }] = await Promise.all([import('marked'), import('marked-terminal')]);
  const width = textWidth(io);
  const p = paint(io);
  // The room left for a block: narrower inside list items and quotes (marked renders depth first, in order).
  let room = width;
  const within = <T>(by: number, fn: () => T): T => {
    const saved = room;
    room = Math.max(12, room - by);
    try {
      return fn();
    } finally {
      room = saved;
    }
  };
  const marked = new Marked(markedTerminal({ reflowText: true, width, tab: 2, emoji: false, showSectionPrefix: false }) as never, {
    renderer: {
      text(token) {
        // Block-level text (a tight list item's) carries inline tokens: render them, so **bold** is bold
        // (marked-terminal renders it raw: its issues #304, #371).
        if ('tokens' in token && token.tokens !== undefined) return this.parser.parseInline(token.tokens);
        return unescapeEntities(token.text.replace(CONTROL, ''));
      },
      codespan(token) {
        return p.yellow(token.text.replace(CONTROL, ''));
      },
      paragraph(token) {
        return `${wrapProse(this.parser.parseInline(token.tokens), room)}\n\n`;
      },
      blockquote(token) {
        const body = within(2, () => this.parser.parse(token.tokens)).replace(/\n+$/, '');
        return `${body
          .split('\n')
          .map((l) => `${p.dim('│')} ${l}`)
          .join('\n')}\n\n`;
      },
      list(token) {
        const start = typeof token.start === 'number' ? token.start : 1;
        const markers = token.items.map((_, i) => (token.ordered ? `${start + i}. ` : '• '));
        const hang = Math.max(...markers.map((m) => m.length));
        const items = token.items.map((item, i) => {
          const blocks = within(2 + hang, () =>
            item.tokens
              .filter((t) => t.type !== 'space')
              .map((t) =>
                t.type === 'text' || t.type === 'paragraph'
                  ? wrapProse(this.parser.parseInline('tokens' in t && t.tokens !== undefined ? t.tokens : [t]), room)
                  : this.parser.parse([t]).replace(/\n+$/, ''),
              ),
          );
          const body = blocks.join(item.loose ? '\n\n' : '\n');
          const marker = markers[i]!.padEnd(hang);
          return body
            .split('\n')
            .map((l, k) => (k === 0 ? marker + l : l === '' ? l : ' '.repeat(hang) + l))
            .join('\n');
        });
        return `${indentLines(items.join(token.loose ? '\n\n' : '\n'), '  ')}\n\n`;
      },
      table(token) {
        const inline = (c: { tokens: import('marked').Token[] }) => this.parser.parseInline(c.tokens).replace(/\r/g, ' ');
        const head = token.header.map(inline);
        const rows = token.rows.map((r) => r.map(inline));
        return `${renderTable(head, rows, room, p, token.align)}\n\n`;
      },
    },
  });
  // The markers around generated reports (grader/lessons/report-blocks.ts) are for authors, not readers.
  const out = marked.parse(md.replace(/^<!-- *\/?dlab:[^\n]*-->\n/gm, ''), { async: false });
  return out.replace(/\n{3,}/g, '\n\n');
}

/**
 * The rendered lesson, from a cache keyed by the lesson's text and the terminal's width and colour:
 * loading marked-terminal (and highlight.js under it) costs more than the rest of `dlab next` together.
 */
export async function renderLesson(ex: Exercise, io: Io): Promise<string> {
  const md = readFileSync(ex.paths.lesson, 'utf8');
  const key = createHash('sha1').update(`v3\0${io.color}\0${io.columns}\0${md}`).digest('hex');
  const dir = join(scratchDir(), 'lessons');
  const file = join(dir, `${key}.txt`);
  try {
    return readFileSync(file, 'utf8');
  } catch {
    const text = await renderMarkdown(md, io);
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(`${file}.${process.pid}`, text);
      renameSync(`${file}.${process.pid}`, file);
    } catch {
      /* a cache that cannot be written only costs time */
    }
    return text;
  }
}

/** What `dlab lesson` shows of an exercise: where it sits in the course, its title and its rendered lesson. */
export async function renderLessonPage(ex: Exercise, io: Io, total: number): Promise<string> {
  const p = paint(io);
  return `${p.dim(`Exercise ${ex.index + 1} of ${total} · ${ex.chapter.title}`)}\n${p.bold(`${ex.id}: ${ex.title}`)}\n\n${await renderLesson(ex, io)}`;
}

/** `path:line` of the first `TODO:` in the stub, so an editor or terminal can jump there. */
export function stubLocation(ex: Exercise, cwd: string): string {
  const files = ex.paths.stubFiles;
  for (const f of files) {
    const lines = readFileSync(f, 'utf8').split('\n');
    const i = lines.findIndex((l) => l.includes('TODO:'));
    if (i >= 0) return `${shown(f, cwd)}:${i + 1}`;
  }
  return shown(files[0]!, cwd);
}

function indent(s: string, by = '    '): string {
  return s
    .split('\n')
    .map((l) => (l === '' ? l : by + l))
    .join('\n');
}

const MAX_MESSAGE_LINES = 60;

const wrapTo = (s: string, width: number | undefined) => (width === undefined ? s : wrapText(s, Math.max(20, width), { keepPreformatted: true }));

/** The first line of a failure's message, without the report's own ✗. */
function firstLineOf(f: Failure): string {
  return (f.message.split('\n').find((l) => l.trim() !== '') ?? '').trim().replace(/^✗\s*/, '');
}

/** A failure's reason in one line, for the list of other failures: its report's first line. */
function reasonOf(f: Failure): string {
  return firstLineOf(f) || '(no message)';
}

/** Failures in groups of one cause (the same first line once numbers are masked), in order of first appearance. */
function sameCause(failures: readonly Failure[]): Failure[][] {
  const groups = new Map<string, Failure[]>();
  for (const f of failures) {
    const line = firstLineOf(f);
    // A failure without a message is its own cause.
    const key = line === '' ? `\u0000${groups.size}` : line.replace(/\d+(\.\d+)?/g, '#');
    const g = groups.get(key);
    if (g === undefined) groups.set(key, [f]);
    else g.push(f);
  }
  return [...groups.values()];
}

/**
 * "(and 2 more tests failed the same way: a; b)", naming the tests without the exercise id. A second error of
 * `first`'s own test (its clean-up failing as its body did) is not another test.
 */
function sameWay(id: string, first: Failure, same: readonly Failure[]): string {
  const others = same.filter((f) => f.test !== first.test);
  const again = same.length - others.length;
  const names = others.map((f) => (f.test.startsWith(`${id} > `) ? f.test.slice(id.length + 3) : f.test));
  const listed = names.length > 5 ? [...names.slice(0, 5), `… ${names.length - 5} more`] : names;
  const parts = [
    ...(again > 0 ? [`the same test reported it ${again === 1 ? 'once more' : `${again} more times`}`] : []),
    ...(others.length > 0 ? [`${others.length} more test${others.length === 1 ? '' : 's'} failed the same way: ${listed.join('; ')}`] : []),
  ];
  return `(and ${parts.join('; and ')})`;
}

/** How many tests failed: a test with two errors (its body and its clean-up) is one; setup, teardown and stray errors are none. */
function failedTests(v: Verdict): number {
  return new Set(v.failures.filter((f) => !f.test.startsWith('(')).map((f) => f.test)).size;
}

/**
 * The property a failure report names on its first line (`✗ <property>` from simProperty,
 * `Property violated: <property>` from checkProperty) as the headline, and the rest of the report
 * (dedented) as the body. A message that names no property keeps the test name as its headline, whole.
 */
function splitHeadline(f: Failure): { headline: string | undefined; body: string } {
  const lines = f.message.split('\n');
  const m = /^\s*(?:✗ |Property violated: )(.+?)\s*$/.exec(lines[0] ?? '');
  if (m === null) return { headline: undefined, body: f.message };
  const rest = lines.slice(1);
  const pad = Math.min(...rest.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)![0].length));
  const body = Number.isFinite(pad) && pad > 0 ? rest.map((l) => l.slice(Math.min(pad, /^ */.exec(l)![0].length))) : rest;
  return { headline: m[1]!, body: body.join('\n').replace(/^\n+|\n+$/g, '') };
}

/** Whether a property sentence is the test's own name (its last part), so that saying both adds nothing. */
function sameWords(property: string, test: string): boolean {
  const norm = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim();
  return norm(test.split(' > ').at(-1) ?? test) === norm(property);
}

/** The verdict as a learner reads it: what failed, why, and how to replay it. */
export function renderVerdict(
  v: Verdict,
  io: Pick<Io, 'color'>,
  opts: {
    showAll?: boolean;
    maxMessageLines?: number;
    /** Wrap prose on word boundaries to this many columns (diagrams, tables and commands are left whole). */
    width?: number;
  } = {},
): string {
  const p = paint(io);
  const secs = (v.durationMs / 1000).toFixed(1);
  const out: string[] = [];
  const target = v.target === 'exercises' ? '' : ` [${v.target}]`;
  if (v.passed) {
    out.push(`${p.green('✓ passed')}  ${p.bold(v.id)}${target}  ${p.dim(`${v.tests} test${v.tests === 1 ? '' : 's'}, ${secs} s`)}`);
    return out.join('\n');
  }
  const what =
    v.kind === 'timed-out'
      ? 'timed out'
      : v.kind === 'did-not-load'
        ? 'did not load'
        : v.kind === 'crashed'
          ? 'crashed'
          : failedTests(v) === 0
            ? `${v.tests} test${v.tests === 1 ? '' : 's'} passed, but the run failed around them`
            : `${failedTests(v)} of ${v.tests} test${v.tests === 1 ? '' : 's'} failed${v.notRun > 0 ? ` (stopped there; ${v.notRun} more not run)` : ''}`;
  // The head line is prose (its double spaces are not columns): wrapped whenever a width is given.
  const head = `${p.red('✗ failed')}  ${p.bold(v.id)}${target}  ${p.dim(`${what}, ${secs} s`)}`;
  out.push(opts.width === undefined ? head : wrapText(head, Math.max(20, opts.width)));
  const width = (title: string) => (opts.width === undefined ? title : wrapText(title, Math.max(20, opts.width)));
  // Failures with the same cause (the same first line, numbers aside) are told once.
  const groups = sameCause(v.failures);
  const shownGroups = opts.showAll === true ? groups : groups.slice(0, 1);
  for (const [f, ...same] of shownGroups) {
    if (f === undefined) continue;
    const { headline, body } = splitHeadline(f);
    out.push('', width(`  ${p.red('✗')} ${p.bold(headline ?? f.test)}`));
    // The property that broke heads the report; the test that checked it follows.
    if (headline !== undefined && !sameWords(headline, f.test)) out.push(width(`    ${p.dim(`test: ${f.test}`)}`));
    let msg = wrapTo(body, opts.width === undefined ? undefined : opts.width - 4);
    const lines = msg.split('\n');
    const max = opts.maxMessageLines ?? MAX_MESSAGE_LINES;
    if (lines.length > max) {
      const more = `… (${lines.length - max} more lines: \`npx dlab check\` prints the whole report${f.replay === undefined ? '' : ', the replay command the whole run'})`;
      msg = [...lines.slice(0, max), wrapTo(more, opts.width === undefined ? undefined : opts.width - 4)].join('\n');
    }
    if (msg !== '') out.push(indent(msg));
    if (f.replay !== undefined && !msg.includes(f.replay)) out.push(indent(`Replay: ${f.replay}`));
    if (same.length > 0) out.push(width(`    ${p.dim(sameWay(v.id, f, same))}`));
  }
  const rest = groups.slice(shownGroups.length);
  if (rest.length > 0) {
    out.push('', `  ${p.dim(`also failing (${rest.reduce((n, g) => n + g.length, 0)}):`)}`);
    for (const [f, ...same] of rest) {
      if (f === undefined) continue;
      out.push(width(`  ${p.red('✗')} ${f.test}`), width(`      ${reasonOf(f)}`));
      if (same.length > 0) out.push(width(`      ${p.dim(sameWay(v.id, f, same))}`));
    }
  }
  if (v.logs.length > 0) {
    out.push('', `  ${p.dim('your code printed:')}`);
    out.push(indent(v.logs.slice(0, 20).join('\n')));
    if (v.logs.length > 20) out.push(`    ${p.dim(`… (${v.logs.length - 20} more lines)`)}`);
  }
  return out.join('\n');
}
