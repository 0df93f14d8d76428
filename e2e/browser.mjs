// Headless Chromium loads the chat page twice, sends a message in one page
// and waits until it appears in the other; saves a screenshot of both.
// Usage: node browser.mjs http://127.0.0.1:4000/ screenshot-dir
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [base, outDir] = process.argv.slice(2);
if (!base || !outDir) throw new Error('usage: node browser.mjs URL OUTDIR');
mkdirSync(outDir, { recursive: true });
const room = 'browser-' + Math.random().toString(36).slice(2, 8);
const text = 'bonjour from ann ' + Date.now();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  // playwright gives every launch a fresh, temporary user data dir.
});
try {
  const ann = await browser.newPage();
  const bob = await browser.newPage();
  for (const [page, name] of [[ann, 'ann'], [bob, 'bob']]) {
    page.on('console', (m) => console.error(`[${name}] ${m.type()}: ${m.text()}`));
    await page.goto(`${base}?room=${room}&name=${name}`);
    await page.waitForSelector('#status.open', { timeout: 10_000 });
  }
  // Let both pages' subscribe frames be handled: the message history query
  // goes first on each connection, so its answer (an empty list) is enough.
  await new Promise((r) => setTimeout(r, 300));
  await ann.fill('#text', text);
  await ann.click('button');
  await bob.waitForFunction((t) => [...document.querySelectorAll('#log li')].some((li) => li.textContent.includes(t)), text, { timeout: 10_000 });
  await ann.waitForFunction((t) => [...document.querySelectorAll('#log li')].some((li) => li.textContent.includes(t)), text, { timeout: 10_000 });
  const author = await bob.$eval('#log li:last-child .author', (el) => el.textContent);
  if (author !== 'ann') throw new Error(`author shown in bob's page: ${author}`);
  await ann.screenshot({ path: join(outDir, 'chat-sender.png') });
  await bob.screenshot({ path: join(outDir, 'chat-receiver.png') });
  console.log(`ok: the message sent in one page arrived in the other; screenshots in ${outDir}`);
} finally {
  await browser.close();
}
