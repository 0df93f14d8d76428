// Headless Chromium opens the translated chat's page twice on one chat,
// sends "Good morning" from one page and waits until both show every
// translation; saves a screenshot of each.
// Usage: node translate-browser.mjs http://127.0.0.1:4000/ OUTDIR '["Buenos días","Bon dia"]'
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [base, outDir, expectJSON] = process.argv.slice(2);
if (!base || !outDir || !expectJSON) throw new Error('usage: node translate-browser.mjs URL OUTDIR EXPECTED_JSON');
const expected = JSON.parse(expectJSON);
mkdirSync(outDir, { recursive: true });
const chat = 'browser-' + Math.random().toString(36).slice(2, 8);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const sender = await browser.newPage();
  const receiver = await browser.newPage();
  for (const [page, name] of [[sender, 'sender'], [receiver, 'receiver']]) {
    page.on('console', (m) => console.error(`[${name}] ${m.type()}: ${m.text()}`));
    await page.goto(`${base}?chat=${chat}`);
    // The status turns green once the subscription is stored.
    await page.waitForSelector('#status.open', { timeout: 10_000 });
  }
  await sender.fill('#text', 'Good morning');
  await sender.click('button');
  for (const page of [sender, receiver]) {
    await page.waitForFunction((want) => {
      const got = [...document.querySelectorAll('#log li[data-language] .text')].map((el) => el.textContent);
      return want.every((w) => got.includes(w));
    }, expected, { timeout: 15_000 });
  }
  const shown = await receiver.$$eval('#log li[data-language]', (els) => els.map((el) => el.dataset.language + ': ' + el.querySelector('.text').textContent));
  if (shown.length !== expected.length) throw new Error(`the receiver shows ${shown.length} translations: ${shown.join('; ')}`);
  const original = await receiver.$eval('#log .original', (el) => el.textContent);
  if (original !== 'Good morning') throw new Error(`original shown: ${original}`);
  const sent = await sender.$eval('#sent', (el) => el.textContent);
  if (!/^sent as event [0-9a-f-]{36}$/.test(sent)) throw new Error(`sender's status: ${sent}`);
  await sender.screenshot({ path: join(outDir, 'translate-sender.png') });
  await receiver.screenshot({ path: join(outDir, 'translate-receiver.png') });
  console.log(`ok: both pages show ${shown.join('; ')}; screenshots in ${outDir}`);
} finally {
  await browser.close();
}
