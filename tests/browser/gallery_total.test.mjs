// The gallery's counts in real headless Chromium, on a store with more images than the API
// counts exactly. Usage:
//   node gallery_total.test.mjs <gallery-url> <expected-status> <screenshot.png>
// Exits non-zero with a message at the first failed check.
import { chromium } from "playwright-core";

const [galleryUrl, expectedStatus, screenshotPath] = process.argv.slice(2);
const check = (condition, message) => {
  if (!condition) throw new Error(`check failed: ${message}`);
  console.log(`ok - ${message}`);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
  // This machine has no network but loopback: keep Chromium from dialling out.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 400 } });
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(galleryUrl);
  await page.waitForFunction((expected) =>
    document.querySelector("[data-testid=status]").textContent === expected, expectedStatus);
  check(true, `the status reads "${expectedStatus}"`);
  check(await page.locator("[data-testid=card]").count() === 12, "the first page shows 12 images");

  await page.locator("[data-testid=facet]").first().waitFor();
  const counts = await page.locator("[data-testid=facet] span:last-child").allTextContents();
  check(counts.every((count) => /^\d{1,3}(,\d{3})*$/.test(count)),
        `facet counts have thousands separators (${counts.slice(0, 3).join(" ")} ...)`);
  check(counts.some((count) => count.includes(",")), "the most frequent labels count thousands");
  await page.screenshot({ path: screenshotPath, fullPage: false });
  check(errors.length === 0, `no script errors on the page ${errors.join("; ")}`);
} finally {
  await browser.close();
}
