// Drives the gallery in real headless Chromium. Usage:
//   node gallery.test.mjs <gallery-url> <image-to-upload> <screenshot.png> <expected-total> [short]
// "short" (the run through the signing proxy) skips the scrolling and filter checks and keeps
// loading, the image viewer, the upload and the thumbnails.
// Exits non-zero with a message at the first failed check.
import { chromium } from "playwright-core";

const [galleryUrl, uploadPath, screenshotPath, expectedTotalText, mode] = process.argv.slice(2);
const expectedTotal = Number(expectedTotalText);
const full = mode !== "short";
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
const blocked = [];
try {
  // A short window first, so that the first page does not reach the infinite-scroll sentinel.
  const page = await browser.newPage({ viewport: { width: 1280, height: 400 } });
  page.on("pageerror", (error) => errors.push(error.message));
  // Chromium reports what the page's Content-Security-Policy blocks on the console.
  page.on("console", (message) => {
    if (message.type() === "error" && /Content Security Policy/i.test(message.text())) {
      blocked.push(message.text());
    }
  });
  const cards = page.locator("[data-testid=card]");
  const status = page.getByTestId("status");
  const statusIs = async (text) => page.waitForFunction(
    (expected) => document.querySelector("[data-testid=status]").textContent === expected, text);

  await page.goto(galleryUrl);
  await statusIs(`${expectedTotal} images`);
  check(await cards.count() === 12, "the first page shows 12 of the images");

  if (full) {
    // Infinite scroll follows the next cursor until every image is shown, each once.
    for (let round = 0; round < 10 && (await cards.count()) < expectedTotal; round += 1) {
      await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
      await page.waitForTimeout(300);
    }
    const keys = await cards.evaluateAll((elements) => elements.map((e) => e.dataset.key));
    check(keys.length === expectedTotal && new Set(keys).size === expectedTotal,
          `scrolling shows all ${expectedTotal} images exactly once (saw ${keys.length})`);
    await page.setViewportSize({ width: 1280, height: 900 });

    const facets = page.getByTestId("facet");
    check(await facets.count() > 3, "facet counts are listed");
    check((await page.getByTestId("facets").textContent()).includes("Cat"), "Cat is among the facets");

    // Label search with autocomplete.
    await page.getByTestId("labels").fill("ca");
    await page.waitForFunction(() => [...document.querySelectorAll("#label-suggestions option")]
      .some((option) => option.value === "Cat"));
    check(true, "autocomplete suggests Cat for 'ca'");
    await page.getByTestId("labels").fill("cat");
    await statusIs("1 image");
    check(await cards.first().getAttribute("data-key") === "chelsea-cat.jpg", "label=cat finds the cat");
    const chips = await cards.first().locator(".chip.matched").allTextContents();
    check(chips.includes("Cat"), "the matched label chip is highlighted");

    // all/any toggle.
    await page.getByTestId("labels").fill("cat, person");
    await statusIs("0 images");
    await page.getByTestId("match").selectOption("any");
    await page.waitForFunction(() => /^[3-9] images$/.test(
      document.querySelector("[data-testid=status]").textContent));
    check(true, "match=any finds the cat and the people");

    // The confidence slider narrows the result.
    await page.getByTestId("labels").fill("animal");
    await statusIs("1 image");
    await page.getByTestId("confidence").evaluate((slider) => {
      slider.value = "99";
      slider.dispatchEvent(new Event("input"));
      slider.dispatchEvent(new Event("change"));
    });
    await statusIs("0 images");
    check(true, "min confidence 99 leaves no animal");
    await page.getByTestId("confidence").evaluate((slider) => {
      slider.value = "0";
      slider.dispatchEvent(new Event("change"));
    });
    check(await page.locator("#confidence-value").textContent() === "0", "the slider shows its value");
  } else {
    await page.setViewportSize({ width: 1280, height: 900 });
  }

  // Bounding boxes over the image on click.
  await page.getByTestId("labels").fill("person");
  await page.getByTestId("match").selectOption("all");
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=card]").length > 0
    && /^[1-9]\d* images?$/.test(document.querySelector("[data-testid=status]").textContent));
  await page.locator("[data-testid=card][data-key='astronaut.jpg']").click();
  await page.getByTestId("viewer").waitFor({ state: "visible" });
  await page.locator("[data-testid=box]").first().waitFor();
  check(await page.locator("[data-testid=box]").count() >= 1, "the face box is drawn over the portrait");
  await page.screenshot({ path: screenshotPath.replace(/\.png$/, "-boxes.png") });
  await page.locator("#close").click();

  // Upload through a presigned POST; the image appears once labelled.
  await page.getByTestId("labels").fill("");
  await statusIs(`${expectedTotal} images`);
  await page.getByTestId("upload").setInputFiles(uploadPath);
  await page.waitForFunction((total) => document.querySelector("[data-testid=status]").textContent
    === `${total} images`, expectedTotal + 1, { timeout: 60000 });
  check(true, "an uploaded image appears once labelled");

  // Let the lazily loaded thumbnails in view arrive before the picture is taken.
  await page.waitForFunction(() => [...document.querySelectorAll("[data-testid=card] img")]
    .filter((image) => image.getBoundingClientRect().top < window.innerHeight)
    .every((image) => image.complete && image.naturalWidth > 0));
  await page.screenshot({ path: screenshotPath, fullPage: false });
  check(errors.length === 0, `no script errors on the page ${errors.join("; ")}`);
  check(blocked.length === 0,
        `the Content-Security-Policy blocks nothing (${blocked.length}) ${blocked.slice(0, 2)}`);
} finally {
  await browser.close();
}
