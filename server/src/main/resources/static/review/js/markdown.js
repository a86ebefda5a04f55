// A tiny Markdown renderer that builds DOM nodes and never parses HTML: every piece of text
// reaches the page through textContent, so a draft cannot inject markup or script.
// Supports what the drafts use: headings, paragraphs, bullet and numbered lists, horizontal
// rules, **bold**, *italic*, `code`, and citation groups such as [C1, C3].

const SOURCES = /\n\s*---\s*\n+\s*\*\*Sources\*\*\s*\n([\s\S]*)$/;
// Only relative FHIR references (Type/id, optionally versioned) become links. A source line is
// "- [C1] Type/id" or, as the server writes it now, "- [C1] the fact's text (Type/id/_history/v)".
const SOURCE_LINE = /^\s*[-*]\s*\[(C\d+)\]\s+(?:.*\()?([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?)\)?\s*$/;

/**
 * Splits a draft into its text and its "Sources" list (citation key -> reference).
 * @returns {{body: string, sources: Map<string, string>}}
 */
export function splitSources(markdown) {
  const match = SOURCES.exec(markdown || '');
  const sources = new Map();
  if (!match) return { body: markdown || '', sources };
  for (const line of match[1].split('\n')) {
    const source = SOURCE_LINE.exec(line);
    if (source) sources.set(source[1], source[2]);
  }
  return { body: markdown.slice(0, match.index), sources };
}

/**
 * Renders Markdown into a DocumentFragment.
 * @param {string} markdown
 * @param {(key: string) => Node|null} citation makes the node for one citation key
 */
export function render(markdown, citation) {
  const fragment = document.createDocumentFragment();
  const lines = (markdown || '').replace(/\r\n?/g, '\n').split('\n');
  let paragraph = [];
  let list = null;

  const flushParagraph = () => {
    if (paragraph.length) {
      const p = el('p');
      inline(p, paragraph.join(' '), citation);
      fragment.appendChild(p);
      paragraph = [];
    }
  };
  const closeList = () => {
    list = null;
  };

  for (const raw of lines) {
    const line = raw.trimEnd();
    let m;
    if (!line.trim()) {
      flushParagraph();
      closeList();
    } else if ((m = /^(#{1,6})\s+(.*)$/.exec(line))) {
      flushParagraph();
      closeList();
      // Draft headings sit below the page's own h2/h3.
      const h = el('h' + Math.min(6, m[1].length + 2));
      inline(h, m[2], citation);
      fragment.appendChild(h);
    } else if (/^\s*(---+|\*\*\*+|___+)\s*$/.test(line)) {
      flushParagraph();
      closeList();
      fragment.appendChild(el('hr'));
    } else if ((m = /^\s*([-*+]|\d+[.)])\s+(.*)$/.exec(line))) {
      flushParagraph();
      const ordered = /\d/.test(m[1]);
      if (!list || list.ordered !== ordered) {
        list = { ordered, node: el(ordered ? 'ol' : 'ul') };
        fragment.appendChild(list.node);
      }
      const li = el('li');
      inline(li, m[2], citation);
      list.node.appendChild(li);
    } else {
      closeList();
      paragraph.push(line.trim());
    }
  }
  flushParagraph();
  return fragment;
}

const INLINE = /(\*\*([^*]+)\*\*|__([^_]+)__|\*([^*\s][^*]*)\*|_([^_\s][^_]*)_|`([^`]+)`|\[(C\d+(?:\s*[,;]\s*C\d+)*)\])/;

function inline(parent, text, citation) {
  let rest = text;
  while (rest) {
    const m = INLINE.exec(rest);
    if (!m) {
      parent.appendChild(document.createTextNode(rest));
      return;
    }
    if (m.index > 0) parent.appendChild(document.createTextNode(rest.slice(0, m.index)));
    if (m[2] !== undefined || m[3] !== undefined) {
      const strong = el('strong');
      inline(strong, m[2] !== undefined ? m[2] : m[3], citation);
      parent.appendChild(strong);
    } else if (m[4] !== undefined || m[5] !== undefined) {
      const em = el('em');
      inline(em, m[4] !== undefined ? m[4] : m[5], citation);
      parent.appendChild(em);
    } else if (m[6] !== undefined) {
      const code = el('code');
      code.textContent = m[6];
      parent.appendChild(code);
    } else {
      const keys = m[7].split(/\s*[,;]\s*/);
      const group = el('span');
      group.className = 'citations';
      group.appendChild(document.createTextNode('['));
      keys.forEach((key, i) => {
        if (i > 0) group.appendChild(document.createTextNode(', '));
        group.appendChild((citation && citation(key)) || document.createTextNode(key));
      });
      group.appendChild(document.createTextNode(']'));
      parent.appendChild(group);
    }
    rest = rest.slice(m.index + m[0].length);
  }
}

function el(name) {
  return document.createElement(name);
}
