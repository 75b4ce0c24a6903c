/**
 * The dashboard's script, plain browser JavaScript (no template literals, so that it can live in
 * this string). It polls `/api/overview` every two seconds for the cards and the charts (five
 * minutes of history), reads the lists when their view opens, and watches a filter over
 * `/api/stream` (server-sent events).
 *
 * @module
 */

/** `GET /dashboard.js` */
export const DASHBOARD_JS = String.raw`"use strict";
(function () {
  var POINTS = 150, PERIOD = 2000;
  var history = { "messages in /s": [], "messages out /s": [], "clients": [], "drops /s": [] };
  var last = null, view = "overview", stream = null;
  var $ = function (id) { return document.getElementById(id); };

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) { node.append(c); });
    return node;
  }

  function api(path, init) {
    init = init || {};
    init.headers = Object.assign({ "x-broker-dashboard": "1" }, init.headers || {});
    return fetch(path, init).then(function (res) {
      if (res.status === 401) { $("login").hidden = false; throw new Error("log in first"); }
      $("login").hidden = true;
      return res;
    });
  }
  function getJson(path) { return api(path).then(function (r) { return r.json(); }); }

  function show(name) {
    view = name;
    document.querySelectorAll("[role=tab]").forEach(function (tab) {
      var on = tab.dataset.view === name;
      tab.setAttribute("aria-selected", String(on));
      $(tab.dataset.view).hidden = !on;
    });
    if (name === "clients") loadClients();
    if (name === "subscriptions") loadSubscriptions();
    if (name === "retained") loadRetained();
  }

  function chart(name, values) {
    var max = Math.max.apply(null, values.concat([1]));
    var round = function (v) { return Math.round(v * 10) / 10; };
    // The newest point is at the right edge; history grows leftwards.
    var offset = POINTS - values.length;
    var points = values.map(function (v, i) {
      return ((offset + i) * 100 / (POINTS - 1)).toFixed(2) + "," + (40 - v * 38 / max).toFixed(2);
    }).join(" ");
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 100 40");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", name + ", now " + (values[values.length - 1] || 0));
    var line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", points);
    svg.append(line);
    var now = values.length ? values[values.length - 1] : 0;
    return el("figure", { "data-chart": name }, [el("figcaption", {}, [name + ": " + round(now) + " (max " + round(max) + ")"]), svg]);
  }

  function push(name, value) {
    var list = history[name];
    list.push(value);
    if (list.length > POINTS) list.shift();
  }

  function tick() {
    getJson("/api/overview").then(function (o) {
      if (last) {
        var secs = (o.time - last.time) / 1000 || 1;
        push("messages in /s", Math.max(0, (o.messagesIn - last.messagesIn) / secs));
        push("messages out /s", Math.max(0, (o.messagesOut - last.messagesOut) / secs));
        push("drops /s", Math.max(0, (o.dropped - last.dropped) / secs));
      }
      push("clients", o.clients);
      last = o;
      var cards = [["clients", o.clients], ["sessions", o.sessions], ["subscriptions", o.subscriptions],
        ["retained", o.retained], ["messages in", o.messagesIn], ["messages out", o.messagesOut],
        ["dropped", o.dropped], ["uptime (s)", o.uptime]];
      $("cards").replaceChildren.apply($("cards"), cards.map(function (c) {
        return el("div", { "class": "card", "data-card": c[0] }, [el("b", {}, [String(c[1])]), el("span", {}, [c[0]])]);
      }));
      $("charts").replaceChildren.apply($("charts"), Object.keys(history).map(function (k) { return chart(k, history[k]); }));
      if (view === "clients") loadClients();
    }).catch(function () {});
  }

  function loadClients() {
    var q = encodeURIComponent($("client-search").value);
    getJson("/api/clients?search=" + q).then(function (list) {
      $("client-rows").replaceChildren.apply($("client-rows"), list.items.map(function (c) {
        var kick = el("button", { "aria-label": "Disconnect " + c.clientId }, ["Disconnect"]);
        kick.onclick = function () {
          api("/api/clients/" + encodeURIComponent(c.clientId), { method: "DELETE" }).then(loadClients);
        };
        return el("tr", { "data-client": c.clientId }, [c.clientId, c.user || "", c.address, c.protocol,
          new Date(c.since).toLocaleTimeString(), String(c.keepalive), String(c.inflight), String(c.queued),
          String(c.drops)]
          .map(function (t) { return el("td", {}, [t]); }).concat([el("td", {}, [kick])]));
      }));
    }).catch(function () {});
  }

  function loadSubscriptions() {
    getJson("/api/subscriptions").then(function (list) {
      $("subscription-rows").replaceChildren.apply($("subscription-rows"), list.items.map(function (s) {
        return el("tr", {}, [s.clientId, s.filter, String(s.qos)].map(function (t) { return el("td", {}, [t]); }));
      }));
    }).catch(function () {});
  }

  function showMessage(m) {
    var del = el("button", {}, ["Delete retained message"]);
    del.onclick = function () {
      api("/api/retained?topic=" + encodeURIComponent(m.topic), { method: "DELETE" }).then(loadRetained);
    };
    $("retained-message").replaceChildren(el("h3", {}, [m.topic]),
      el("p", { "class": "muted" }, ["QoS " + m.qos + ", " + m.bytes + " bytes, " + m.encoding]),
      el("pre", {}, [m.payload]), del);
  }

  function tree(node) {
    var ul = el("ul", {}, []);
    Object.keys(node).sort().forEach(function (name) {
      var entry = node[name], li = el("li", {}, []);
      var kids = Object.keys(entry.children).length;
      if (entry.message) {
        var open = el("button", { "data-topic": entry.message.topic }, [name]);
        open.onclick = function () { showMessage(entry.message); };
        li.append(open);
        if (kids) li.append(tree(entry.children));
      } else {
        li.append(el("details", { open: "" }, [el("summary", {}, [name + "/"]), tree(entry.children)]));
      }
      ul.append(li);
    });
    return ul;
  }

  function loadRetained() {
    getJson("/api/retained?filter=" + encodeURIComponent($("retained-filter").value)).then(function (list) {
      var root = {};
      list.items.forEach(function (m) {
        var node = root, levels = m.topic.split("/");
        levels.forEach(function (level, i) {
          node[level] = node[level] || { children: {}, message: null };
          if (i === levels.length - 1) node[level].message = m;
          else node = node[level].children;
        });
      });
      $("retained-tree").replaceChildren(list.items.length ? tree(root) : el("p", { "class": "muted" }, ["No retained messages match."]));
    }).catch(function () {});
  }

  function watch() {
    if (stream) {
      stream.close();
      stream = null;
      $("live-toggle").textContent = "Watch";
      delete $("live-messages").dataset.open;
      return;
    }
    stream = new EventSource("/api/stream?filter=" + encodeURIComponent($("live-filter").value));
    $("live-toggle").textContent = "Stop";
    stream.onopen = function () { $("live-messages").dataset.open = "true"; };
    stream.onmessage = function (event) {
      var m = JSON.parse(event.data), list = $("live-messages");
      list.prepend(el("li", {}, [new Date().toLocaleTimeString() + " " + m.topic + " " + m.payload]));
      while (list.children.length > 200) list.lastChild.remove();
    };
  }

  document.querySelectorAll("[role=tab]").forEach(function (tab) {
    tab.onclick = function () { show(tab.dataset.view); };
  });
  // Arrow keys move between views, as in any tab list; Tab still reaches every control.
  document.querySelector("[role=tablist]").onkeydown = function (e) {
    var tabs = Array.prototype.slice.call(document.querySelectorAll("[role=tab]"));
    var i = tabs.indexOf(document.activeElement);
    if (i < 0 || (e.key !== "ArrowRight" && e.key !== "ArrowLeft")) return;
    var next = tabs[(i + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
    next.focus();
    show(next.dataset.view);
  };
  $("client-search").oninput = loadClients;
  $("retained-form").onsubmit = function (e) { e.preventDefault(); loadRetained(); };
  $("live-form").onsubmit = function (e) { e.preventDefault(); watch(); };
  $("login").onsubmit = function (e) {
    e.preventDefault();
    var form = new FormData($("login"));
    fetch("/api/login", { method: "POST", headers: { "content-type": "application/json", "x-broker-dashboard": "1" },
      body: JSON.stringify({ user: form.get("user"), password: form.get("password") }) })
      .then(function (res) {
        if (res.ok) { $("login").hidden = true; $("login-error").textContent = ""; tick(); }
        else $("login-error").textContent = "Wrong user name or password.";
      });
  };
  tick();
  setInterval(tick, PERIOD);
})();
`;
