// A small code editor on a <textarea>: Tab / Shift+Tab indent and dedent, Enter keeps
// the indentation (and indents after a Python `:` or an opening bracket), Shift+Enter or
// Ctrl+Enter runs, Escape leaves the editor so that Tab moves focus again. Line numbers
// in a gutter; the textarea grows with its content (through `rows`, not inline styles).

import { h } from './dom.js';

const INDENT = '    ';

export function codeEditor({ value = '', language = 'python', onRun, onRunAndAdvance, testid = 'code', label = 'Code', placeholder } = {}) {
  const gutter = h('pre.editor-gutter', { 'aria-hidden': 'true' });
  const ta = h('textarea.editor-text', {
    spellcheck: 'false',
    autocapitalize: 'off',
    autocomplete: 'off',
    wrap: 'off',
    'aria-label': label,
    testid,
    placeholder: placeholder || 'Code — Shift+Enter to run, Tab to indent, Esc then Tab to leave',
    dataset: { language },
  });
  ta.value = value;
  const wrap = h('div.editor', gutter, ta);
  let trapTab = true;

  const refresh = () => {
    const n = Math.max(1, ta.value.split('\n').length);
    ta.rows = Math.min(Math.max(n, 2), 40);
    let nums = '';
    for (let i = 1; i <= n; i++) nums += `${i}\n`;
    gutter.textContent = nums;
  };

  const replaceSelection = (text, selStart, selEnd) => {
    // execCommand keeps the browser's undo history; fall back to setRangeText.
    ta.focus();
    if (!document.execCommand || !document.execCommand('insertText', false, text)) {
      ta.setRangeText(text, ta.selectionStart, ta.selectionEnd, 'end');
    }
    if (selStart !== undefined) ta.setSelectionRange(selStart, selEnd);
    refresh();
  };

  const lineStartOf = (pos) => ta.value.lastIndexOf('\n', pos - 1) + 1;

  ta.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.shiftKey || e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      if (e.shiftKey && onRunAndAdvance) onRunAndAdvance();
      else if (onRun) onRun();
      return;
    }
    if (e.key === 'Escape') {
      trapTab = false;
      return;
    }
    if (e.key === 'Tab' && trapTab && !e.ctrlKey && !e.altKey && !e.metaKey) {
      e.preventDefault();
      const { selectionStart: a, selectionEnd: b, value: v } = ta;
      const multi = v.slice(a, b).includes('\n');
      if (!e.shiftKey && !multi) {
        replaceSelection(INDENT);
        return;
      }
      // Indent or dedent every line of the selection.
      const start = lineStartOf(a);
      const block = v.slice(start, b);
      const lines = block.split('\n');
      const changed = lines.map((l) => (e.shiftKey ? l.replace(/^( {1,4}|\t)/, '') : INDENT + l)).join('\n');
      ta.setSelectionRange(start, b);
      replaceSelection(changed, start, start + changed.length);
      return;
    }
    if (e.key === 'Enter' && !e.altKey) {
      e.preventDefault();
      const { selectionStart: a, value: v } = ta;
      const start = lineStartOf(a);
      const line = v.slice(start, a);
      let indent = (line.match(/^[ \t]*/) || [''])[0];
      if (/[:([{]\s*$/.test(line)) indent += INDENT;
      replaceSelection(`\n${indent}`);
    }
  });
  ta.addEventListener('keyup', (e) => {
    if (e.key !== 'Escape' && e.key !== 'Tab') trapTab = true;
  });
  ta.addEventListener('focus', () => {
    trapTab = true;
  });
  ta.addEventListener('input', refresh);
  refresh();

  return {
    el: wrap,
    textarea: ta,
    get value() {
      return ta.value;
    },
    set value(v) {
      ta.value = v;
      refresh();
    },
    focus() {
      ta.focus();
    },
    setLanguage(l) {
      ta.dataset.language = l;
    },
  };
}
