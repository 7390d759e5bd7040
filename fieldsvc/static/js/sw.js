// fieldsvc's service worker: the app shell from a precache, and the pages and reference
// data a signed-in technician reads offline, kept per person for a limited number of days.
// Served by the app at /sw.js (scope /), which puts `const SETTINGS = {...}` first.
//
// The seam with the outbox (static/js/outbox.js): this worker never answers or keeps a
// request other than GET. Writes made offline are queued and replayed by the outbox in
// the page; a POST passes through here untouched, so it fails offline where the outbox
// can see it.
//
// Hand-written rather than Workbox: what it does is small (one precache, one
// network-first route, one route answered from the kept bundle), and Workbox would
// bring npm and a build step to a project whose `make run` needs Python only.
/* global SETTINGS */
"use strict";

const SHELL_PREFIX = "fieldsvc-shell-";
const USER_PREFIX = "fieldsvc-user-";
const META = "fieldsvc-meta";
// Entries of the META cache (never URLs the app serves).
const CURRENT_USER = "/__fieldsvc/current-user";
const LAST_REFRESH = "/__fieldsvc/last-refresh";
const STORED_AT = "Fieldsvc-Stored-At";
const DAY_MS = 24 * 60 * 60 * 1000;

const shellUrls = new Set(SETTINGS.shell);

async function shellName() {
  // The shell's name comes from its URLs (digested names): a deploy that changes a file
  // gets a cache of its own, and activation deletes the older ones.
  const bytes = new TextEncoder().encode(SETTINGS.shell.join("\n"));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return SHELL_PREFIX + Array.from(digest.slice(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(await shellName());
    // Without cookies: the shell is the same for everyone and names no one.
    await cache.addAll(SETTINGS.shell.map((url) => new Request(url, { credentials: "omit" })));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    const current = await shellName();
    for (const name of await caches.keys()) {
      if (name.startsWith(SHELL_PREFIX) && name !== current) await caches.delete(name);
    }
    await deleteExpired();
    await self.clients.claim();
  })());
});

// --- whose copies ------------------------------------------------------------------------

async function readMeta(entry) {
  const response = await (await caches.open(META)).match(entry);
  return response ? response.json() : null;
}

async function writeMeta(entry, value) {
  await (await caches.open(META)).put(entry, Response.json(value));
}

async function currentUser() {
  return (await readMeta(CURRENT_USER))?.key ?? null;
}

// Another person's key: everything kept for anyone else is deleted before anything of
// theirs is kept, so one browser never holds two people's pages.
async function becomeUser(key) {
  if ((await currentUser()) === key) return;
  for (const name of await caches.keys()) {
    if (name.startsWith(USER_PREFIX) && name !== USER_PREFIX + key) await caches.delete(name);
  }
  await writeMeta(LAST_REFRESH, null);
  await writeMeta(CURRENT_USER, { key });
}

// --- keeping and finding copies ----------------------------------------------------------

// Only a same-origin 200 the server marked for its signed-in user is kept (see
// fieldsvc/offline/views.py); a page comes back marked as kept, so its script shows
// "offline — last updated …" when it is shown from here.
async function keep(url, response) {
  const key = response.headers.get(SETTINGS.keepHeader);
  if (!key || response.status !== 200 || response.type !== "basic" || response.redirected) return;
  await becomeUser(key);
  const headers = new Headers(response.headers);
  headers.set(STORED_AT, new Date().toISOString());
  let body;
  if ((headers.get("Content-Type") || "").startsWith("text/html")) {
    body = (await response.text()).replace('data-offline-page="live"', 'data-offline-page="kept"');
  } else {
    body = await response.blob();
  }
  const cache = await caches.open(USER_PREFIX + key);
  await cache.put(url, new Response(body, { status: 200, headers }));
}

const expired = (response) => {
  const stored = Date.parse(response.headers.get(STORED_AT) || "");
  return !(Date.now() - stored < SETTINGS.keepDays * DAY_MS);
};

// The current person's copy of `url`, unless it is older than the days kept (then it
// is deleted, never shown).
async function keptCopy(url) {
  const key = await currentUser();
  if (!key) return null;
  const cache = await caches.open(USER_PREFIX + key);
  const response = await cache.match(url);
  if (!response) return null;
  if (expired(response)) {
    await cache.delete(url);
    return null;
  }
  return response;
}

// Copies past the days kept are deleted, not just hidden: when the worker starts and
// whenever a page asks for a refresh (online or not).
async function deleteExpired() {
  for (const name of await caches.keys()) {
    if (!name.startsWith(USER_PREFIX)) continue;
    const cache = await caches.open(name);
    for (const request of await cache.keys()) {
      const response = await cache.match(request);
      if (!response || expired(response)) await cache.delete(request);
    }
  }
}

async function fresh(cache, url) {
  const kept = await cache.match(url);
  const stored = Date.parse(kept?.headers.get(STORED_AT) || "");
  return Date.now() - stored < (SETTINGS.keepDays * DAY_MS) / 2;
}

const wait = (ms) => new Promise((resolve) => { setTimeout(() => resolve(null), ms); });

// Network first; the kept copy when the network fails, or when it is slow and a copy
// exists. With no copy, a page that cannot load shows the offline page.
async function networkFirst(event, url, fallback) {
  const network = fetch(event.request);
  // Kept while the page already shows: the copy is written from a clone of the answer.
  event.waitUntil(network.then((response) => keep(url, response.clone())).catch(() => null));
  const copy = await keptCopy(url);
  if (!copy) return network.catch(fallback);
  return (await Promise.race([network.catch(() => null), wait(SETTINGS.pageTimeoutMs)])) ?? copy;
}

const offlinePage = async () => (await caches.match(SETTINGS.fallbackUrl)) ?? Response.error();
const unavailable = () => new Response("", { status: 503, statusText: "Offline" });

// The new-incident form's equipment picker asks the server for a site's equipment;
// offline the kept bundle answers, in the same shape.
async function equipmentOptions(event, url) {
  try {
    return await fetch(event.request);
  } catch {
    const kept = await keptCopy(SETTINGS.bundleUrl);
    if (!kept) return unavailable();
    const bundle = await kept.json();
    const site = Number(new URL(url).searchParams.get("site_id"));
    const equipment = bundle.equipment
      .filter((item) => item.site_id === site)
      .map(({ id, tag, detail }) => ({ id, tag, detail }));
    return Response.json({ equipment });
  }
}

const THUMBNAIL = /^\/incidents\/\d+\/photos\/\d+\/thumbnail$/;

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return; // writes belong to the outbox
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (shellUrls.has(url.pathname)) {
    event.respondWith(caches.match(url.pathname).then((hit) => hit ?? fetch(request)));
  } else if (url.pathname === SETTINGS.equipmentOptionsUrl) {
    event.respondWith(equipmentOptions(event, url.href));
  } else if (request.mode === "navigate") {
    event.respondWith(networkFirst(event, url.href, offlinePage));
  } else if (THUMBNAIL.test(url.pathname)) {
    event.respondWith(networkFirst(event, url.href, unavailable));
  }
});

// --- refreshing the kept copies ----------------------------------------------------------

// Fetch the bundle and every page it lists, one at a time (a weak connection is shared
// with the page), keep them, and drop kept pages it no longer lists (an incident closed
// or moved to another team).
async function refresh(key, force) {
  await becomeUser(key);
  await deleteExpired();
  const last = await readMeta(LAST_REFRESH);
  const due = !last || Date.now() - Date.parse(last.at) > (SETTINGS.refreshMinutes * 60 * 1000) / 2;
  if (!force && !due) return last;
  const response = await fetch(SETTINGS.bundleUrl, { credentials: "same-origin", cache: "no-store" });
  if (response.headers.get(SETTINGS.keepHeader) !== key) return null; // signed out meanwhile
  const bundle = await response.clone().json();
  await keep(new URL(SETTINGS.bundleUrl, self.location.href).href, response);
  const listed = new Set([new URL(SETTINGS.bundleUrl, self.location.href).href]);
  const cache = await caches.open(USER_PREFIX + key);
  for (const page of bundle.pages) {
    const url = new URL(page, self.location.href).href;
    listed.add(url);
    // A photo's thumbnail never changes: fetched again only when half its days are gone.
    if (THUMBNAIL.test(new URL(url).pathname) && await fresh(cache, url)) continue;
    try {
      await keep(url, await fetch(url, { credentials: "same-origin" }));
    } catch {
      break; // offline again: what was kept stays
    }
  }
  for (const request of await cache.keys()) {
    if (!listed.has(request.url)) await cache.delete(request);
  }
  const done = { at: new Date().toISOString(), complete: bundle.complete };
  await writeMeta(LAST_REFRESH, done);
  return done;
}

self.addEventListener("message", (event) => {
  const message = event.data || {};
  const reply = (answer) => event.ports[0]?.postMessage(answer);
  if (message.type === "refresh" && typeof message.key === "string") {
    event.waitUntil(refresh(message.key, Boolean(message.force))
      .then((done) => reply({ refreshed: done }), () => reply({ refreshed: null })));
  }
});
