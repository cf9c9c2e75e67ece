// Takes the docs screenshot of the notebook page: `node screenshot.mjs OUT.png`
// (WARDEN_BIN and CHROMIUM as for the tests).
import { join } from 'node:path';
import { createKey, startServer, tempDir, removeDir, launchBrowser } from './harness.mjs';

const out = process.argv[2] || '../../docs/console-notebook.png';
const dir = tempDir('warden-console-shot-');
const key = createKey(dir, 'acme');
const server = await startServer(dir, ['--js-pool-size', '0', '--bash-pool-size', '0']);
const browser = await launchBrowser();
try {
  const page = await browser.newPage({ viewport: { width: 1360, height: 1020 }, deviceScaleFactor: 1 });
  page.setDefaultTimeout(30_000);
  await page.goto(`${server.url}/ui/`);
  await page.getByTestId('api-key').fill(key);
  await page.getByTestId('sign-in').click();
  await page.getByTestId('create-session').click();
  await page.locator('[data-testid=cells][data-loaded=true]').waitFor();
  const run = async (code, wait) => {
    const n = await page.getByTestId('cell').count();
    const cell = page.getByTestId('cell').nth(n - 1);
    await cell.getByTestId('cell-code').fill(code);
    await cell.getByTestId('run-cell').click();
    await cell.getByTestId(wait).first().waitFor();
    await page.getByTestId('add-cell').click();
  };
  await run("import csv, statistics\nrows = [{'day': d, 'visits': v} for d, v in zip('MTWTFSS', [120, 135, 128, 160, 190, 75, 60])]\nwith open('visits.csv', 'w', newline='') as f:\n    w = csv.DictWriter(f, ['day', 'visits'])\n    w.writeheader(); w.writerows(rows)\nstatistics.mean(r['visits'] for r in rows)", 'value');
  await run("import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(6, 2.6))\nax.bar(range(7), [r['visits'] for r in rows], color='#3b6fc4')\nax.set_xticks(range(7), list('MTWTFSS'))\nax.set_title('visits per day')\nprint('plotted', len(rows), 'days')", 'image-output');
  await run("1 / (len(rows) - 7)", 'traceback');
  await page.getByTestId('files-refresh').click();
  await page.getByTestId('file-visits.csv').waitFor();
  await page.mouse.click(5, 5);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: out });
  console.log(`# wrote ${out}`);
} finally {
  await browser.close();
  await server.stop();
  removeDir(dir);
}
