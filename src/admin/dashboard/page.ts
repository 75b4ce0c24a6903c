/**
 * The dashboard's HTML and CSS. Plain DOM and SVG, no UI or chart library: the whole dashboard is
 * a few kilobytes, needs no build step and no network beyond the broker, and ships inside the
 * package and the compiled binary as part of the code.
 *
 * @module
 */

/** `GET /`: the page; its script and style come from this listener only (see the CSP). */
export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>broker</title>
<link rel="stylesheet" href="/dashboard.css">
<script src="/dashboard.js" defer></script>
</head>
<body>
<header>
  <h1>broker</h1>
  <nav role="tablist" aria-label="Views">
    <button role="tab" data-view="overview" aria-selected="true">Overview</button>
    <button role="tab" data-view="clients">Clients</button>
    <button role="tab" data-view="subscriptions">Subscriptions</button>
    <button role="tab" data-view="retained">Retained</button>
    <button role="tab" data-view="live">Live</button>
  </nav>
</header>
<main>
  <form id="login" hidden>
    <h2>Log in</h2>
    <label>User <input name="user" autocomplete="username" required></label>
    <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
    <button>Log in</button>
    <p id="login-error" role="alert"></p>
  </form>
  <section id="overview" role="tabpanel">
    <div id="cards" class="cards"></div>
    <div id="charts" class="charts"></div>
  </section>
  <section id="clients" role="tabpanel" hidden>
    <label>Search <input id="client-search" type="search" placeholder="client id, user or address"></label>
    <table><thead><tr><th>Client id</th><th>User</th><th>Address</th><th>Protocol</th><th>Since</th><th>Keepalive (s)</th><th>In flight</th><th>Queued</th><th>Drops</th><th></th></tr></thead>
    <tbody id="client-rows"></tbody></table>
  </section>
  <section id="subscriptions" role="tabpanel" hidden>
    <table><thead><tr><th>Client id</th><th>Filter</th><th>QoS</th></tr></thead>
    <tbody id="subscription-rows"></tbody></table>
  </section>
  <section id="retained" role="tabpanel" hidden>
    <form id="retained-form"><label>Filter <input id="retained-filter" value="#"></label> <button>Browse</button></form>
    <div id="retained-tree" class="tree"></div>
    <div id="retained-message" aria-live="polite"></div>
  </section>
  <section id="live" role="tabpanel" hidden>
    <form id="live-form"><label>Filter <input id="live-filter" value="#"></label> <button id="live-toggle">Watch</button></form>
    <ol id="live-messages" class="messages" aria-live="polite"></ol>
  </section>
</main>
</body>
</html>
`;

/** `GET /dashboard.css` */
export const DASHBOARD_CSS = `
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #fff; --muted: #6a737d; --line: #d0d7de; --accent: #0969da; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --muted: #8b949e; --line: #30363d; --accent: #58a6ff; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1rem; padding: .5rem 1rem; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.1rem; margin: 0; }
nav { display: flex; flex-wrap: wrap; gap: .25rem; }
button { font: inherit; padding: .3rem .7rem; border: 1px solid var(--line); border-radius: 6px; background: transparent; color: inherit; cursor: pointer; }
button[aria-selected=true] { border-color: var(--accent); color: var(--accent); }
button:focus-visible, input:focus-visible, summary:focus-visible { outline: 2px solid var(--accent); outline-offset: 1px; }
input { font: inherit; padding: .3rem .5rem; border: 1px solid var(--line); border-radius: 6px; background: transparent; color: inherit; max-width: 100%; }
main { padding: 1rem; max-width: 70rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(9rem, 1fr)); gap: .5rem; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: .5rem; }
.card b { display: block; font-size: 1.4rem; }
.card span, th, .muted { color: var(--muted); }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(18rem, 1fr)); gap: .5rem; margin-top: 1rem; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 6px; padding: .5rem; }
figcaption { font-size: .85rem; color: var(--muted); }
svg { width: 100%; height: 80px; display: block; }
polyline { fill: none; stroke: var(--accent); stroke-width: 1.5; vector-effect: non-scaling-stroke; }
table { border-collapse: collapse; width: 100%; margin-top: .5rem; display: block; overflow-x: auto; }
th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
.tree ul { list-style: none; padding-left: 1rem; margin: 0; }
.tree > ul { padding-left: 0; }
.messages { font-family: ui-monospace, monospace; font-size: .85rem; padding-left: 1.5rem; overflow-wrap: anywhere; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; border: 1px solid var(--line); padding: .5rem; border-radius: 6px; }
label { display: inline-flex; gap: .5rem; align-items: center; margin: .25rem 0; }
#login { display: grid; gap: .5rem; max-width: 20rem; }
#login[hidden] { display: none; }
`;
