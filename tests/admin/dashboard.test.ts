import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type mqtt from "mqtt";
import { type Browser, chromium, type Page } from "playwright-core";
import { connect, eventually } from "../helpers/broker.ts";
import { type AdminBroker, startAdminBroker } from "./helpers.ts";

const CHROMIUM = "/usr/bin/chromium";
const skip = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is missing (Debian: apt-get install chromium; .ci/run installs it)`;
if (skip) console.log(`# skipping dashboard tests: ${skip}`);

/** Where the screenshot goes: a folder of its own under the system's temporary folder. */
const SHOTS = join(tmpdir(), "broker-dashboard-test");

describe("dashboard in headless Chromium", { skip }, () => {
  let scope: AdminBroker;
  let browser: Browser;
  let page: Page;
  const clients: mqtt.MqttClient[] = [];
  before(async () => {
    scope = await startAdminBroker();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    });
    page = await browser.newPage({ viewport: { width: 420, height: 860 } });
    await page.goto(`${scope.httpUrl}/`);
  });
  after(async () => {
    for (const c of clients) c.end(true);
    await browser?.close();
    await scope?.broker.close();
  });

  test("a connected client appears in the list and can be searched", async () => {
    clients.push(await connect(scope.mqttUrl, { clientId: "dash-one", reconnectPeriod: 0 }));
    clients.push(await connect(scope.mqttUrl, { clientId: "dash-two", reconnectPeriod: 0 }));
    await page.getByRole("tab", { name: "Clients" }).click();
    await page.locator('tr[data-client="dash-one"]').waitFor();
    const headers = await page.locator("#clients th").allTextContents();
    const cells = await page.locator('tr[data-client="dash-one"] td').allTextContents();
    assert.equal(cells[headers.indexOf("Drops")], "0");
    assert.equal(cells[headers.indexOf("Keepalive (s)")], "60");
    await page.getByLabel("Search").fill("two");
    await page.locator('tr[data-client="dash-one"]').waitFor({ state: "detached" });
    assert.equal(await page.locator("tr[data-client]").count(), 1);
    await page.getByLabel("Search").fill("");
  });

  test("arrow keys move between views", async () => {
    await page.getByRole("tab", { name: "Clients" }).focus();
    await page.keyboard.press("ArrowRight");
    assert.equal(
      await page.getByRole("tab", { name: "Subscriptions" }).getAttribute("aria-selected"),
      "true",
    );
    assert.equal(await page.locator("#subscriptions").isVisible(), true);
    await page.keyboard.press("ArrowLeft");
    assert.equal(await page.locator("#clients").isVisible(), true);
  });

  test("a chart moves under traffic", async () => {
    await page.getByRole("tab", { name: "Overview" }).click();
    const publisher = clients[0];
    let sending = true;
    const traffic = (async () => {
      while (sending) {
        await publisher.publishAsync("load/x", "1", { qos: 0 });
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    try {
      await page.waitForFunction(
        () => {
          const chart = document.querySelector('[data-chart="messages in /s"]');
          const caption = chart?.querySelector("figcaption");
          const points = chart?.querySelector("polyline")?.getAttribute("points") ?? "";
          // Three points draw a line worth a screenshot.
          return caption != null && !/: 0 \(/.test(caption.textContent ?? "") &&
            points.split(" ").length >= 3;
        },
        undefined,
        { timeout: 30000 },
      );
    } finally {
      sending = false;
      await traffic;
    }
    mkdirSync(SHOTS, { recursive: true });
    const shot = join(SHOTS, "overview.png");
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`# dashboard screenshot: ${shot}`);
  });

  test("the disconnect button disconnects the client", async () => {
    await page.getByRole("tab", { name: "Clients" }).click();
    await page.locator('tr[data-client="dash-two"]').waitFor();
    await page.screenshot({ path: join(SHOTS, "clients.png"), fullPage: true });
    await page.getByRole("button", { name: "Disconnect dash-two" }).click();
    await eventually(
      () => !scope.broker.clients.some((c) => c.clientId === "dash-two"),
      10000,
      "dash-two to be disconnected",
    );
    await page.locator('tr[data-client="dash-two"]').waitFor({ state: "detached" });
  });

  test("the retained browser shows a message from the topic tree", async () => {
    scope.broker.publish({ topic: "home/kitchen/temp", payload: "21.5", retain: true });
    await page.getByRole("tab", { name: "Retained" }).click();
    await page.getByRole("button", { name: "Browse" }).click();
    await page.locator('[data-topic="home/kitchen/temp"]').click();
    assert.equal(await page.locator("#retained-message pre").textContent(), "21.5");
    await page.getByRole("button", { name: "Delete retained message" }).click();
    await page.getByText("No retained messages match.").waitFor();
  });

  test("the live view shows messages on the filter typed", async () => {
    await page.getByRole("tab", { name: "Live" }).click();
    await page.locator("#live-filter").fill("live/#");
    await page.locator("#live-filter").press("Enter");
    // The page marks the list once the event stream is open, and so subscribed.
    await page.locator('#live-messages[data-open="true"]').waitFor({ state: "attached" });
    scope.broker.publish({ topic: "live/a", payload: "hello" });
    await page.getByText("live/a hello").waitFor({ timeout: 10000 });
    await page.getByRole("button", { name: "Stop" }).click();
  });
});
