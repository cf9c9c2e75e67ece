// What console/ui/assets/editor.js takes from CodeMirror 6. `npm run build` bundles this
// file, and only what it re-exports, into console/ui/assets/vendor/codemirror.js.

export { EditorState, Compartment, Prec } from '@codemirror/state';
export {
  EditorView,
  keymap,
  lineNumbers,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  drawSelection,
  dropCursor,
  placeholder,
} from '@codemirror/view';
export { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
export { indentOnInput, indentUnit, bracketMatching, syntaxHighlighting, StreamLanguage } from '@codemirror/language';
export { closeBrackets, closeBracketsKeymap } from '@codemirror/autocomplete';
export { classHighlighter } from '@lezer/highlight';
export { python } from '@codemirror/lang-python';
export { javascript } from '@codemirror/lang-javascript';
export { shell } from '@codemirror/legacy-modes/mode/shell';
