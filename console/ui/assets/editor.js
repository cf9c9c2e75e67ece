// The code editor: CodeMirror 6, from the bundle in ./vendor/codemirror.js (built by
// console/vendor). Line numbers, syntax highlighting for the session's language, bracket
// matching and closing, undo history. Enter keeps the indentation (and indents after a
// Python `:` or an opening bracket), Tab / Shift+Tab indent and dedent, Escape then Tab
// moves the focus out. Shift+Enter runs and moves on, Ctrl+Enter (Cmd+Enter) runs.
//
// Token colours are classes (`tok-keyword`, …) in style.css. The editor's own rules go
// through CodeMirror's style-mod into a constructable style sheet, which the CSP allows.

import {
  EditorState,
  Compartment,
  Prec,
  EditorView,
  keymap,
  lineNumbers,
  highlightSpecialChars,
  drawSelection,
  dropCursor,
  placeholder as placeholderText,
  defaultKeymap,
  history,
  historyKeymap,
  indentWithTab,
  indentOnInput,
  indentUnit,
  bracketMatching,
  syntaxHighlighting,
  StreamLanguage,
  closeBrackets,
  closeBracketsKeymap,
  classHighlighter,
  python,
  javascript,
  shell,
} from './vendor/codemirror.js';
import { h } from './dom.js';

const INDENT = '    ';

const bashLanguage = StreamLanguage.define(shell);

/** The CodeMirror extension for a session language; none for one it does not know. */
function languageSupport(language) {
  switch (language) {
    case 'python':
      return python();
    case 'javascript':
      return javascript();
    case 'bash':
      return bashLanguage;
    default:
      return [];
  }
}

// The look, in the palette of style.css (its custom properties reach in here).
const theme = EditorView.theme({
  '&': { backgroundColor: '#fbfcfd', color: 'var(--ink)', maxHeight: '760px' },
  '&.cm-focused': { outline: 'none' },
  '.cm-scroller': { fontFamily: 'var(--mono)', fontSize: '13px', lineHeight: '1.45', overflow: 'auto' },
  '.cm-content': { padding: '6px 0', minHeight: '44px', caretColor: 'var(--ink)' },
  '.cm-line': { padding: '0 8px' },
  '.cm-gutters': { backgroundColor: '#f1f3f6', color: '#9aa4b1', borderRight: '1px solid var(--line)' },
  '.cm-lineNumbers .cm-gutterElement': { padding: '0 6px 0 8px', minWidth: '28px' },
  '.cm-cursor, .cm-dropCursor': { borderLeftColor: 'var(--ink)' },
  '.cm-selectionBackground': { backgroundColor: '#e3e9f2' },
  '&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground': { backgroundColor: '#cfe0fa' },
  '&.cm-focused .cm-matchingBracket': { backgroundColor: '#dbe8fb', outline: '1px solid #9dbbe8' },
  '&.cm-focused .cm-nonmatchingBracket': { backgroundColor: 'var(--err-bg)', outline: '1px solid #f1b8b3' },
  '.cm-placeholder': { color: '#8a95a3' },
});

// Chromium, when text is typed over a selection, edits the DOM itself, and for a
// selection that spans lines it leaves a stray empty line that CodeMirror then reads
// (and tries a style attribute, which the CSP refuses). So text typed over a selection
// replaces it here, through the input handlers first (closeBrackets wraps a selection
// in brackets).
const typeOverSelection = EditorView.domEventHandlers({
  beforeinput(event, view) {
    const text = event.data;
    if (event.inputType !== 'insertText' || !text || event.isComposing || view.composing) return false;
    // The DOM selection (Chromium gives insertText no target ranges), which may be ahead
    // of the editor's state when it was set by script.
    const sel = document.getSelection();
    if (!sel || sel.isCollapsed || !view.contentDOM.contains(sel.anchorNode) || !view.contentDOM.contains(sel.focusNode)) return false;
    const a = view.posAtDOM(sel.anchorNode, sel.anchorOffset);
    const b = view.posAtDOM(sel.focusNode, sel.focusOffset);
    const from = Math.min(a, b);
    const to = Math.max(a, b);
    if (from === to) return false;
    event.preventDefault();
    const { state } = view;
    const insert = () => {
      const changes = state.changes({ from, to, insert: text });
      return state.update({ changes, selection: { anchor: changes.mapPos(from, 1) }, scrollIntoView: true, userEvent: 'input.type' });
    };
    if (!state.facet(EditorView.inputHandler).some((handler) => handler(view, from, to, text, insert))) view.dispatch(insert());
    return true;
  },
});

export function codeEditor({
  value = '',
  language = 'python',
  onRun,
  onRunAndAdvance,
  onChange,
  testid = 'code',
  label = 'Code',
  placeholder,
} = {}) {
  const wrap = h('div.editor', { dataset: { language } });
  const lang = new Compartment();
  let settingValue = false;

  const run = (fn) => () => {
    if (fn) fn();
    return true;
  };
  const runKeys = Prec.highest(
    keymap.of([
      { key: 'Shift-Enter', run: run(onRunAndAdvance || onRun) },
      { key: 'Mod-Enter', run: run(onRun) },
      { key: 'Ctrl-Enter', run: run(onRun) },
    ]),
  );

  const view = new EditorView({
    parent: wrap,
    state: EditorState.create({
      doc: value,
      extensions: [
        runKeys,
        typeOverSelection,
        lineNumbers(),
        highlightSpecialChars(),
        history(),
        drawSelection(),
        dropCursor(),
        indentOnInput(),
        bracketMatching(),
        closeBrackets(),
        syntaxHighlighting(classHighlighter),
        indentUnit.of(INDENT),
        EditorState.tabSize.of(4),
        keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...historyKeymap, indentWithTab]),
        placeholderText(placeholder || 'Code — Shift+Enter to run, Tab to indent, Esc then Tab to leave'),
        EditorView.contentAttributes.of({ 'aria-label': label, 'data-testid': testid }),
        EditorView.updateListener.of((u) => {
          if (u.docChanged && !settingValue && onChange) onChange();
        }),
        theme,
        lang.of(languageSupport(language)),
      ],
    }),
  });

  return {
    el: wrap,
    view,
    get value() {
      return view.state.doc.toString();
    },
    set value(v) {
      settingValue = true;
      try {
        view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: v } });
      } finally {
        settingValue = false;
      }
    },
    focus() {
      view.focus();
    },
    setLanguage(l) {
      wrap.dataset.language = l;
      view.dispatch({ effects: lang.reconfigure(languageSupport(l)) });
    },
  };
}
