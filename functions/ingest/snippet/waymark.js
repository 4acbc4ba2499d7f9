/*! Waymark storefront tracking. Served by the ingest function at
 *  GET /waymark.js; include it on every storefront page:
 *
 *    <script src="https://<ingest url>/waymark.js" data-key="wk_live_…"
 *            data-page-type="product" defer></script>
 *
 *  Then, from the page: waymark.product({...}), waymark.addToCart({...}),
 *  waymark.search("wool"),
 *  waymark.form({email, topic, accepts_marketing, double_opt_in}),
 *  waymark.identify({email}), waymark.track("quiz_done", {score: 3}).
 *  A page view is sent on load. Events are batched (at most 100 a request),
 *  sent as text/plain so no CORS preflight is needed, and kept and resent
 *  when the network or the server fails.
 */
(function (w, d) {
  "use strict";
  if (w.waymark && w.waymark.version) return;
  var script = d.currentScript || d.querySelector("script[data-key][src*='waymark']");
  var key = script && script.getAttribute("data-key");
  var endpoint = (script && script.getAttribute("data-endpoint")) ||
    (script ? script.src.replace(/\/waymark\.js(\?.*)?$/, "/track") : "/track");
  var MAX_BATCH = 100, FLUSH_MS = 2000, queue = [], timer = null, backoff = 0;

  function store(name, value) {
    try {
      if (value === undefined) return w.localStorage.getItem(name);
      w.localStorage.setItem(name, value);
    } catch (e) { /* private mode: ids last for the page */ }
    return value;
  }
  function uuid() {
    if (w.crypto && w.crypto.randomUUID) return w.crypto.randomUUID();
    return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, function (c) {
      var r = Math.random() * 16 | 0;
      return (c === "x" ? r : (r & 3 | 8)).toString(16);
    });
  }
  var anonymousId = store("wm_aid") || store("wm_aid", uuid());
  var identity = {};
  try { identity = JSON.parse(store("wm_who") || "{}"); } catch (e) { identity = {}; }

  function base(type) {
    var e = {
      type: type,
      id: uuid(),
      at: new Date().toISOString(),
      anonymous_id: anonymousId,
      url: w.location.href.slice(0, 2048),
      locale: d.documentElement.lang || navigator.language
    };
    try { e.time_zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (x) { /* old browser */ }
    if (identity.email) e.email = identity.email;
    if (identity.customer_id) e.customer_id = identity.customer_id;
    return e;
  }
  function push(e) {
    queue.push(e);
    if (queue.length >= MAX_BATCH) flush();
    else if (!timer) timer = setTimeout(flush, FLUSH_MS);
  }
  function send(batch, keepalive) {
    var body = JSON.stringify({ key: key, batch: batch });
    return fetch(endpoint, {
      method: "POST",
      headers: { "content-type": "text/plain;charset=UTF-8" },
      body: body,
      keepalive: !!keepalive && body.length < 60000,
      credentials: "omit"
    });
  }
  function flush(keepalive) {
    if (timer) { clearTimeout(timer); timer = null; }
    if (!queue.length || !key) return;
    var batch = queue.splice(0, MAX_BATCH);
    send(batch, keepalive).then(function (r) {
      if (r.status === 400 || r.status === 401 || r.status === 403 || r.status === 413) {
        // Refused for good: say why, do not resend. A saved identity that the
        // server refuses would spoil every later batch: forget it.
        r.json().then(function (b) { console.warn("waymark: events refused", b); }, function () {});
        if (r.status === 400) { identity = {}; store("wm_who", "{}"); }
        backoff = 0;
      } else if (!r.ok) {
        retry(batch, r.headers.get("retry-after"));
      } else {
        backoff = 0;
      }
      if (queue.length) timer = setTimeout(flush, FLUSH_MS);
    }, function () { retry(batch); });
  }
  function retry(batch, after) {
    queue = batch.concat(queue).slice(0, 1000);
    backoff = Math.min(backoff ? backoff * 2 : 2000, 60000);
    var wait = after ? Math.max(1000, parseInt(after, 10) * 1000) : backoff;
    timer = setTimeout(flush, wait);
  }
  function validEmail(e) {
    return typeof e === "string" && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(e.trim());
  }
  function product(p) {
    p = p || {};
    var out = {};
    ["id", "title", "category", "price", "currency", "url", "image"].forEach(function (k) {
      if (p[k] !== undefined && p[k] !== null) out[k] = k === "price" ? String(p[k]) : p[k];
    });
    return out;
  }

  w.waymark = {
    version: "1",
    page: function (opts) {
      var e = base("page_viewed");
      if (opts && opts.page_type) e.page_type = opts.page_type;
      push(e);
    },
    product: function (p) { var e = base("product_viewed"); e.product = product(p); push(e); },
    addToCart: function (p) { var e = base("added_to_cart"); e.product = product(p); push(e); },
    search: function (q) { var e = base("searched"); e.query = String(q).slice(0, 512); push(e); },
    identify: function (who) {
      who = who || {};
      if (validEmail(who.email)) identity.email = String(who.email).trim();
      var id = parseInt(who.customer_id, 10);
      if (id > 0) identity.customer_id = id;
      store("wm_who", JSON.stringify(identity));
      var e = base("identified");
      if (who.first_name) e.first_name = who.first_name;
      push(e);
      flush();
    },
    form: function (f) {
      f = f || {};
      if (!validEmail(f.email)) { console.warn("waymark: form without a valid email; not sent"); return; }
      identity.email = String(f.email).trim();
      store("wm_who", JSON.stringify(identity));
      var e = base("form_submitted");
      ["email", "first_name", "topic", "accepts_marketing", "double_opt_in"].forEach(function (k) {
        if (f[k] !== undefined) e[k] = f[k];
      });
      push(e);
      flush();
    },
    track: function (name, properties) {
      var e = base("custom");
      e.name = name;
      if (properties) e.properties = properties;
      push(e);
    },
    flush: flush
  };
  if (!key) { console.warn("waymark: no data-key on the script tag; nothing is sent"); }
  w.waymark.page({ page_type: script && script.getAttribute("data-page-type") });
  // On a Shopify storefront, the visitor id rides along as a cart attribute,
  // so the checkout and order webhooks tie this browsing to the buyer.
  if (w.Shopify && w.Shopify.shop && store("wm_cart") !== anonymousId) {
    fetch("/cart/update.js", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ attributes: { waymark_aid: anonymousId } }),
      credentials: "same-origin"
    }).then(function (r) { if (r.ok) store("wm_cart", anonymousId); }, function () {});
  }
  w.addEventListener("pagehide", function () { flush(true); });
  d.addEventListener("visibilitychange", function () {
    if (d.visibilityState === "hidden") flush(true);
  });
})(window, document);
