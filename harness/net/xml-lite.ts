// A small XML reader and writer for exercise 02.4: elements, attributes and text, nothing more.
//
// Enough XML for a protocol translator: no namespaces (a prefix is just part of the name), no DTDs, no
// processing instructions beyond the <?xml ...?> declaration, comments skipped. An element holds either
// child elements or text, never both (whitespace between child elements is ignored). Text is kept
// exactly, including leading and trailing spaces.

export interface XmlElement {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: readonly XmlElement[];
  /** The element's text ('' when it has children or is empty). */
  readonly text: string;
}

/** A document that is not XML, or uses something xml-lite does not support. */
export class XmlError extends Error {
  constructor(message: string, readonly offset: number) {
    super(`${message} (at character ${offset})`);
    this.name = 'XmlError';
  }
}

/** Builds an element: `content` is its text or its child elements. */
export function xmlElement(name: string, attrs: Readonly<Record<string, string>> = {}, content: string | readonly XmlElement[] = ''): XmlElement {
  if (!NAME.test(name)) throw new XmlError(`'${name}' is not an XML element name`, 0);
  return typeof content === 'string' ? { name, attrs: { ...attrs }, children: [], text: content } : { name, attrs: { ...attrs }, children: [...content], text: '' };
}

const NAME = /^[A-Za-z_:][A-Za-z0-9._:-]*$/;
const NAME_AT = /[A-Za-z_:][A-Za-z0-9._:-]*/y;

function escapeText(s: string): string {
  // \r would be turned into \n by any XML reader, so it travels as a character reference.
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#13;');
}

function escapeAttr(s: string): string {
  return escapeText(s).replace(/"/g, '&quot;').replace(/\n/g, '&#10;').replace(/\t/g, '&#9;');
}

/** Writes an element as XML text (compact; with `declaration`, preceded by <?xml version="1.0" encoding="UTF-8"?>). */
export function serializeXml(el: XmlElement, opts: { declaration?: boolean } = {}): string {
  const out: string[] = opts.declaration === true ? ['<?xml version="1.0" encoding="UTF-8"?>'] : [];
  const write = (e: XmlElement) => {
    if (!NAME.test(e.name)) throw new XmlError(`'${e.name}' is not an XML element name`, 0);
    let open = `<${e.name}`;
    for (const [k, v] of Object.entries(e.attrs)) {
      if (!NAME.test(k)) throw new XmlError(`'${k}' is not an XML attribute name`, 0);
      open += ` ${k}="${escapeAttr(v)}"`;
    }
    if (e.children.length > 0 && e.text !== '') throw new XmlError(`<${e.name}> has both text and child elements (xml-lite keeps them apart)`, 0);
    if (e.children.length === 0 && e.text === '') return void out.push(`${open}/>`);
    out.push(`${open}>`);
    if (e.children.length > 0) for (const c of e.children) write(c);
    else out.push(escapeText(e.text));
    out.push(`</${e.name}>`);
  };
  write(el);
  return out.join('');
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(s: string, at: number): string {
  return s.replace(/&([^;&\s]*);?/g, (m: string, body: string, i: number) => {
    if (!m.endsWith(';')) throw new XmlError(`'&' must start an entity such as &amp;`, at + i);
    if (body in ENTITIES) return ENTITIES[body]!;
    const num = /^#(?:x([0-9a-fA-F]+)|([0-9]+))$/.exec(body);
    if (num !== null) {
      const cp = num[1] !== undefined ? parseInt(num[1], 16) : Number(num[2]);
      if (cp > 0x10ffff || cp === 0) throw new XmlError(`character reference &${body}; is out of range`, at + i);
      return String.fromCodePoint(cp);
    }
    throw new XmlError(`unknown entity &${body};`, at + i);
  });
}

/** Reads one XML document into its root element. Throws XmlError on anything malformed or unsupported. */
export function parseXml(input: string): XmlElement {
  // XML readers see every line break as \n.
  const src = input.replace(/\r\n?/g, '\n');
  let pos = 0;
  const fail = (msg: string): never => {
    throw new XmlError(msg, pos);
  };
  const skipMisc = () => {
    for (;;) {
      while (pos < src.length && /\s/.test(src[pos]!)) pos++;
      if (src.startsWith('<!--', pos)) {
        const end = src.indexOf('-->', pos + 4);
        if (end < 0) fail('unterminated comment');
        pos = end + 3;
      } else if (src.startsWith('<?', pos)) {
        const end = src.indexOf('?>', pos + 2);
        if (end < 0) fail('unterminated <? ... ?>');
        pos = end + 2;
      } else if (src.startsWith('<!DOCTYPE', pos) || src.startsWith('<!doctype', pos)) {
        fail('DOCTYPE declarations are not supported');
      } else return;
    }
  };
  const name = (): string => {
    NAME_AT.lastIndex = pos;
    const m = NAME_AT.exec(src);
    if (m === null) fail('expected a name');
    pos += m![0].length;
    return m![0];
  };
  const element = (): XmlElement => {
    if (src[pos] !== '<') fail("expected '<'");
    pos++;
    const tag = name();
    const attrs: Record<string, string> = {};
    for (;;) {
      const before = pos;
      while (pos < src.length && /\s/.test(src[pos]!)) pos++;
      if (src.startsWith('/>', pos)) {
        pos += 2;
        return { name: tag, attrs, children: [], text: '' };
      }
      if (src[pos] === '>') {
        pos++;
        break;
      }
      if (pos === before) fail(`expected whitespace, '>' or '/>' in <${tag}>`);
      const attr = name();
      while (/\s/.test(src[pos] ?? '')) pos++;
      if (src[pos] !== '=') fail(`expected '=' after attribute ${attr}`);
      pos++;
      while (/\s/.test(src[pos] ?? '')) pos++;
      const q = src[pos];
      if (q !== '"' && q !== "'") fail(`attribute ${attr} needs a quoted value`);
      const end = src.indexOf(q!, pos + 1);
      if (end < 0) fail(`unterminated value of attribute ${attr}`);
      const raw = src.slice(pos + 1, end);
      if (raw.includes('<')) fail(`'<' in the value of attribute ${attr}`);
      if (attr in attrs) fail(`attribute ${attr} appears twice`);
      // Attribute values normalise whitespace characters to spaces; character references survive.
      attrs[attr] = decodeEntities(raw.replace(/[\t\n]/g, ' '), pos + 1);
      pos = end + 1;
    }
    const children: XmlElement[] = [];
    let text = '';
    let hasText = false;
    for (;;) {
      if (pos >= src.length) fail(`<${tag}> is never closed`);
      if (src.startsWith('</', pos)) {
        pos += 2;
        const closing = name();
        if (closing !== tag) fail(`</${closing}> closes <${tag}>`);
        while (/\s/.test(src[pos] ?? '')) pos++;
        if (src[pos] !== '>') fail(`expected '>' after </${closing}`);
        pos++;
        break;
      }
      if (src.startsWith('<!--', pos)) {
        const end = src.indexOf('-->', pos + 4);
        if (end < 0) fail('unterminated comment');
        pos = end + 3;
      } else if (src.startsWith('<![CDATA[', pos)) {
        const end = src.indexOf(']]>', pos + 9);
        if (end < 0) fail('unterminated CDATA section');
        text += src.slice(pos + 9, end);
        hasText = true;
        pos = end + 3;
      } else if (src[pos] === '<') {
        children.push(element());
      } else {
        const end = src.indexOf('<', pos);
        const stop = end < 0 ? src.length : end;
        text += decodeEntities(src.slice(pos, stop), pos);
        hasText = true;
        pos = stop;
      }
    }
    if (children.length > 0) {
      if (hasText && text.trim() !== '') throw new XmlError(`<${tag}> mixes text and child elements (xml-lite keeps them apart)`, pos);
      return { name: tag, attrs, children, text: '' };
    }
    return { name: tag, attrs, children, text };
  };
  skipMisc();
  const root = element();
  skipMisc();
  if (pos < src.length) fail('content after the root element');
  return root;
}
