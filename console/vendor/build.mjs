// Builds console/ui/assets/vendor/codemirror.js (one minified ES module) and LICENSES.txt
// beside it from codemirror-entry.mjs with esbuild.
//
//   node build.mjs           write both files
//   node build.mjs --check   build into a temporary directory and fail (exit 1) when the
//                            committed files differ from the fresh build
//
// The output is the same bytes on every build of the same package-lock.json.

import { build } from 'esbuild';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const OUT_DIR = resolve(HERE, '..', 'ui', 'assets', 'vendor');
const FILES = ['codemirror.js', 'LICENSES.txt'];

// style-mod (CodeMirror's style injector) puts its rules in a <style> element when the
// editor is in a document, and in a constructable style sheet (adoptedStyleSheets) only
// in a shadow root. The console's CSP (style-src 'self') refuses the <style> element, so
// the bundle takes the constructable sheet for documents too.
const STYLE_MOD_FROM = 'if (!root.head && root.adoptedStyleSheets && win.CSSStyleSheet) {';
const STYLE_MOD_TO = 'if (root.adoptedStyleSheets && win.CSSStyleSheet) {';

const adoptedSheetsForDocuments = {
  name: 'style-mod-adopted-sheets',
  setup(b) {
    b.onLoad({ filter: /[\\/]style-mod[\\/]src[\\/]style-mod\.js$/ }, (args) => {
      const src = readFileSync(args.path, 'utf8');
      const n = src.split(STYLE_MOD_FROM).length - 1;
      if (n !== 1) throw new Error(`style-mod: expected the StyleSet test once in ${args.path}, found it ${n} times; review the patch in build.mjs`);
      return { contents: src.replace(STYLE_MOD_FROM, STYLE_MOD_TO), loader: 'js' };
    });
  },
};

function packageOf(file) {
  // node_modules/@scope/name/... or node_modules/name/...
  const parts = relative(join(HERE, 'node_modules'), resolve(HERE, file)).split(sep);
  return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
}

function licenses(metafile) {
  const names = [...new Set(Object.keys(metafile.inputs).filter((f) => f.includes('node_modules')).map(packageOf))].sort();
  const blocks = names.map((name) => {
    const dir = join(HERE, 'node_modules', name);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const file = ['LICENSE', 'LICENSE.md', 'LICENSE.txt'].map((f) => join(dir, f)).find(existsSync);
    if (!file) throw new Error(`${name}: no LICENSE file`);
    return `${pkg.name} ${pkg.version} (${pkg.license})\n\n${readFileSync(file, 'utf8').trim()}\n`;
  });
  return (
    'The packages bundled in codemirror.js (built by console/vendor: npm run build), with their licenses.\n\n' +
    names.map((n) => `- ${n}`).join('\n') +
    '\n\n' +
    blocks.join('\n----------------------------------------------------------------------\n\n')
  );
}

async function buildInto(dir) {
  const result = await build({
    entryPoints: [join(HERE, 'codemirror-entry.mjs')],
    absWorkingDir: HERE,
    bundle: true,
    format: 'esm',
    target: 'es2020',
    platform: 'browser',
    minify: true,
    legalComments: 'none', // the licenses are in LICENSES.txt
    charset: 'utf8',
    metafile: true,
    write: false,
    logLevel: 'warning',
    banner: { js: '/* CodeMirror 6 for the warden console, built by console/vendor (npm run build). Licenses: LICENSES.txt */' },
    plugins: [adoptedSheetsForDocuments],
    outfile: join(dir, 'codemirror.js'),
  });
  mkdirSync(dir, { recursive: true });
  const [js] = result.outputFiles;
  writeFileSync(join(dir, 'codemirror.js'), js.contents);
  writeFileSync(join(dir, 'LICENSES.txt'), licenses(result.metafile));
  return js.contents.length;
}

if (process.argv.includes('--check')) {
  const tmp = mkdtempSync(join(tmpdir(), 'warden-console-vendor-'));
  try {
    await buildInto(tmp);
    const stale = FILES.filter((f) => {
      const committed = join(OUT_DIR, f);
      return !existsSync(committed) || !readFileSync(committed).equals(readFileSync(join(tmp, f)));
    });
    if (stale.length) {
      const names = stale.map((f) => `console/ui/assets/vendor/${f}`).join(' and ');
      console.error(
        `${names} ${stale.length === 1 ? 'differs' : 'differ'} from a fresh build of console/vendor.\n` +
          'Run `npm ci && npm run build` in console/vendor and commit console/ui/assets/vendor/.',
      );
      process.exit(1);
    }
    console.log(`console/ui/assets/vendor/ matches a fresh build (${FILES.join(', ')})`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
} else {
  const bytes = await buildInto(OUT_DIR);
  console.log(`wrote console/ui/assets/vendor/codemirror.js (${bytes} bytes) and LICENSES.txt`);
}
