// Drives a notebook in a real browser: Debian's Chromium through playwright-core, against a
// Jupyter notebook server (classic, 6.4) that the Go test started on loopback.
//
// It opens the notebook, runs all cells, waits for the live λ slider (a GoNB widget that only
// appears when the browser answers GoNB's comms), moves it with the keyboard, and checks that
// the run's status line reports the new λ and that the live plot redrew (a new picture after
// the move); then it flips the KL-direction toggle and presses the stop button, and checks the
// run reports both. It saves screenshots and prints one JSON line with what it saw.
//
// Environment: NB_URL (the notebook's URL with its token), OUT (folder for screenshots),
// WANT_LAMBDA (the λ the slider should reach), PRESSES (ArrowRight presses, default 2),
// CHROMIUM (default /usr/bin/chromium), TIMEOUT_MS (per wait, default 300000).
// NODE_PATH must reach playwright-core.
'use strict';
const { chromium } = require('playwright-core');
const path = require('path');

const url = process.env.NB_URL;
const out = process.env.OUT || '.';
const want = process.env.WANT_LAMBDA;
const presses = parseInt(process.env.PRESSES || '2', 10);
const timeout = parseInt(process.env.TIMEOUT_MS || '300000', 10);
const t0 = Date.now();

function log(...a) {
  console.error(`[browser ${((Date.now() - t0) / 1000).toFixed(1)}s]`, ...a);
}

async function main() {
  if (!url || !want) throw new Error('NB_URL and WANT_LAMBDA are required');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const result = { ok: false };
  const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
  page.setDefaultTimeout(timeout);
  page.on('console', (m) => { if (m.type() === 'error') log('console error:', m.text()); });
  page.on('pageerror', (e) => {
    log('page error:', e.message);
    if (e.message.includes('comm_open_ack not received')) {
      // GoNB's comm gave up at start-up: the widgets will never go live. Fail now (the Go test
      // tries once more) instead of waiting out every timeout.
      console.log(JSON.stringify({ ok: false, error: 'GoNB comm did not connect: ' + e.message }));
      browser.close().finally(() => process.exit(3));
    }
  });
  try {
    await page.goto(url);
    await page.waitForFunction(() => window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel &&
      Jupyter.notebook.kernel.is_connected(), null, { timeout: 120000 });
    log('kernel connected; running all cells');
    await page.evaluate(() => Jupyter.notebook.execute_all_cells());

    const slider = page.locator('input[type=range][id^="pompc_lambda_"]');
    await slider.waitFor({ state: 'visible' });
    log('live λ slider is up');
    // The plot's first picture comes with the dashboard; wait for it so "before" is real.
    await page.waitForSelector('.pompc-live');
    const before = await page.evaluate(() => {
      const d = document.querySelector('.pompc-live');
      const s = document.querySelector('.pompc-status');
      return { redraw: +d.dataset.redraw, step: +d.dataset.step, html: d.innerHTML,
        lambda: s ? s.dataset.lambda : null };
    });
    result.before = { redraw: before.redraw, step: before.step, lambda: before.lambda };
    log('before:', JSON.stringify(result.before));

    await slider.focus();
    for (let i = 0; i < presses; i++) {
      await page.keyboard.press('ArrowRight');
    }
    result.sliderValue = await slider.inputValue();
    log('slider moved to position', result.sliderValue);

    await page.waitForFunction((w) => {
      const s = document.querySelector('.pompc-status');
      return s && s.dataset.lambda === w;
    }, want);
    result.statusLambda = want;
    log('status line reports λ =', want);

    await page.waitForFunction((b) => {
      const d = document.querySelector('.pompc-live');
      return d && +d.dataset.redraw > b.redraw && d.innerHTML !== b.html && d.querySelector('svg, img');
    }, { redraw: before.redraw, html: before.html });
    result.after = await page.evaluate(() => {
      const d = document.querySelector('.pompc-live');
      return { redraw: +d.dataset.redraw, step: +d.dataset.step };
    });
    log('live plot redrew:', JSON.stringify(result.after));
    // Let some trained steps after the seed phase's update burst reach the plot, so the
    // screenshot shows curves (not needed for the checks: a slow machine just gets fewer).
    try {
      await page.waitForFunction((s) => {
        const d = document.querySelector('.pompc-live');
        return d && +d.dataset.step >= s;
      }, result.after.step + 60, { timeout: 45000 });
    } catch (_) { /* keep going */ }
    await page.screenshot({ path: path.join(out, 'quickstart-live.png'), fullPage: true });

    // The KL-direction toggle: its options are indices into (forward, reverse).
    await page.locator('select[id^="pompc_kl_"]').first().selectOption('0');
    await page.waitForFunction(() => {
      const s = document.querySelector('.pompc-status');
      return s && s.dataset.priorKl === 'forward';
    });
    result.statusKL = 'forward';
    log('status line reports KL forward');

    // The stop button ends the training before its target step.
    await page.locator('button[id^="pompc_stop_"]').first().click();
    await page.waitForFunction(() => {
      const s = document.querySelector('.pompc-status');
      return s && s.dataset.training === 'false' && s.dataset.stopped === 'true';
    });
    result.stoppedAt = await page.evaluate(() => +document.querySelector('.pompc-status').dataset.step);
    log('stopped at step', result.stoppedAt);

    // Let the notebook finish: every code cell executed, none running.
    await page.waitForFunction(() => {
      const cells = Jupyter.notebook.get_cells().filter((c) => c.cell_type === 'code');
      return document.querySelectorAll('.code_cell.running').length === 0 &&
        cells.every((c) => typeof c.input_prompt_number === 'number');
    });
    result.errors = await page.evaluate(() =>
      Array.from(document.querySelectorAll('.output_error')).map((e) => e.innerText.slice(0, 2000)));
    result.controlsAfter = await page.evaluate(() => {
      const s = document.querySelectorAll('.pompc-status');
      return Array.from(s).map((e) => ({ ...e.dataset }));
    });
    result.figures = await page.evaluate(() =>
      document.querySelectorAll('.output_subarea svg, .output_subarea img').length);
    await page.screenshot({ path: path.join(out, 'quickstart-done.png'), fullPage: true });
    result.ok = result.errors.length === 0;
    log('notebook finished; errors:', result.errors.length);
  } catch (e) {
    result.error = String(e && e.stack || e);
    try { await page.screenshot({ path: path.join(out, 'quickstart-failure.png'), fullPage: true }); } catch (_) { /* ignore */ }
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}

main().catch((e) => { console.error(e); process.exit(2); });
