// Headless Chromium through Omniboard 2.16.1 for tests/omniboard/check_omniboard.py (which asserts on what
// this records). Usage: node browse.js SPEC.json, with NODE_PATH holding playwright-core. SPEC: {base, out,
// chromium, names, columns, run_id, metric, timeout_ms}. Writes into out: runs_list.{html,png},
// runs_columns.{html,png}, run_<id>_metrics.{html,png} and browser.json (what each page showed, and errors).
'use strict';

const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const facts = { errors: [], console: [], failed_requests: [] };

// Header texts and row texts (one array of cell texts per row) of the runs table.
const readTable = () => ({
  headers: [...document.querySelectorAll('.public_fixedDataTable_header .public_fixedDataTableCell_cellContent')]
    .map(cell => cell.innerText.trim()).filter(text => text),
  rows: [...document.querySelectorAll('.public_fixedDataTable_bodyRow')]
    .map(row => [...row.querySelectorAll('.public_fixedDataTableCell_main')].map(cell => cell.innerText.trim())),
});

async function save(page, name) {
  fs.writeFileSync(path.join(spec.out, `${name}.html`), await page.content());
  await page.screenshot({ path: path.join(spec.out, `${name}.png`), fullPage: true });
}

async function step(name, body) {
  try {
    await body();
  } catch (error) {
    facts.errors.push(`${name}: ${String(error).split('\n')[0]}`);
  }
}

(async () => {
  const browser = await chromium.launch({ executablePath: spec.chromium, args: ['--no-sandbox'] });
  facts.browser_version = browser.version();
  try {
    // The table renders only the rows in view: tall enough for every run (about 61 px a row).
    const height = Math.min(8000, Math.max(1000, 400 + 70 * spec.names.length));
    const page = await browser.newPage({ viewport: { width: 1600, height } });
    page.setDefaultTimeout(spec.timeout_ms);
    page.on('console', message => { if (message.type() === 'error') facts.console.push(message.text().slice(0, 300)); });
    page.on('response', response => { if (response.status() >= 400) facts.failed_requests.push(`${response.status()} ${response.url()}`); });

    // 1. The runs list: wait until every expected run name is rendered.
    await step('runs list', async () => {
      await page.goto(`${spec.base}/sacred`);
      await page.waitForFunction(names => names.every(name => document.body.innerText.includes(name)), spec.names);
    });
    await step('runs list table', async () => { facts.runs_list = await page.evaluate(readTable); });
    await step('runs list save', () => save(page, 'runs_list'));

    // 2. Show/Hide Columns: only Id, Experiment Name and our custom and metric columns.
    await step('columns', async () => {
      const group = page.locator('.btn-group', { has: page.locator('button', { hasText: 'Show/Hide Columns' }) }).last();
      await group.locator('button.multiselect').click();
      await group.locator('li.multiselect-all label').click();  // everything was shown: now nothing is
      for (const key of ['_id', 'experiment_name', ...spec.columns]) {
        await group.locator(`input[value="${key}"]`).click();
      }
      await page.keyboard.press('Escape');
      await page.mouse.click(5, 5);
      await page.waitForFunction(count => document.querySelectorAll(
        '.public_fixedDataTable_header .public_fixedDataTableCell_cellContent').length >= count, spec.columns.length + 2);
      await page.waitForTimeout(1000);
    });
    await step('columns table', async () => { facts.runs_columns = await page.evaluate(readTable); });
    await step('columns save', () => save(page, 'runs_columns'));

    // 3. One run's drill-down (the modal the row's expand button opens), Metrics tab, only spec.metric plotted.
    const name = `run_${spec.run_id}_metrics`;
    await step('metrics', async () => {
      await page.goto(`${spec.base}/sacred?showDrillDownRunModal=true&runIdToExpand=${spec.run_id}&runIdStatus=COMPLETED`);
      const picker = page.locator('.modal #plot-metric-names');
      await picker.locator('button.multiselect').click();
      await picker.locator(`input[value="${spec.metric}"]`).waitFor({ state: 'attached' });
      await picker.locator('li.multiselect-all label').click();  // all metrics start selected: none now
      await picker.locator(`input[value="${spec.metric}"]`).click();
      await picker.locator('button.multiselect').click();  // closes the list (a click outside would close the modal)
      await page.waitForFunction(metric => {
        const plot = document.querySelector('.modal .js-plotly-plot');
        return plot && plot.data && plot.data.length > 0 && plot.data.some(trace => trace.name === metric) &&
          plot.data.every(trace => trace.name.startsWith(metric)) &&
          plot.querySelectorAll('.scatterlayer .trace').length === plot.data.length;
      }, spec.metric);
      await page.waitForTimeout(1000);
    });
    await step('metrics plot', async () => {
      facts.metrics_view = await page.evaluate(() => {
        const plot = document.querySelector('.modal .js-plotly-plot');
        return {
          modal_title: (document.querySelector('.modal .modal-title') || {}).innerText || '',
          button: (document.querySelector('.modal #plot-metric-names button.multiselect') || {}).innerText || '',
          selected: [...document.querySelectorAll('.modal #plot-metric-names input[type=checkbox]:checked')].map(i => i.value),
          traces: plot ? plot.data.map(t => ({ name: t.name, x: [...t.x], y: [...t.y], showlegend: t.showlegend !== false })) : [],
          svg_traces: plot ? plot.querySelectorAll('.scatterlayer .trace').length : 0,
          svg_lines: plot ? [...plot.querySelectorAll('.scatterlayer path.js-line')].filter(p => (p.getAttribute('d') || '').length > 1).length : 0,
          legend: plot ? [...plot.querySelectorAll('.legendtext')].map(t => t.textContent) : [],
          title: plot ? [...plot.querySelectorAll('.gtitle')].map(t => t.textContent) : [],
        };
      });
    });
    await step('metrics save', () => save(page, name));
  } finally {
    await browser.close();
    fs.writeFileSync(path.join(spec.out, 'browser.json'), JSON.stringify(facts, null, 1));
  }
})().catch(error => { console.error(error); process.exit(1); });
