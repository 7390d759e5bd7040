// Progressive behaviour for the incident forms: draft autosave, dependent
// selects and the equipment picker. Everything is driven by data attributes so
// the templates stay the contract; without JavaScript the forms still submit.
(() => {
  "use strict";

  const PREFIX = "fieldsvc:";
  // Tokens are single-use and secrets must never sit in localStorage.
  const SKIP_NAMES = new Set(["csrf_token", "submission_key"]);
  const SKIP_TYPES = new Set(["hidden", "file", "password", "submit", "button", "reset", "image"]);
  // The pending equipment fetch per form, so a draft restore can wait for it.
  const pendingLoads = new WeakMap();

  // localStorage throws in private mode or when full; the form must keep working.
  function readDraft(key) {
    try {
      const draft = JSON.parse(localStorage.getItem(key));
      return draft && typeof draft.fields === "object" ? draft : null;
    } catch {
      return null;
    }
  }
  function writeDraft(key, draft) {
    try { localStorage.setItem(key, JSON.stringify(draft)); } catch { /* no draft, still a form */ }
  }
  function removeDraft(key) {
    try { localStorage.removeItem(key); } catch { /* nothing to remove */ }
  }

  const changed = (element) => element.dispatchEvent(new Event("change", { bubbles: true }));
  const pad = (number) => String(number).padStart(2, "0");

  function readFields(form) {
    const fields = {};
    for (const el of form.elements) {
      const named = el.name && ["INPUT", "SELECT", "TEXTAREA"].includes(el.tagName);
      if (!named || SKIP_NAMES.has(el.name) || SKIP_TYPES.has(el.type)) continue;
      // A photo's choices belong to its file, which a draft cannot keep.
      if (el.name.startsWith("photo_details-")) continue;
      if (el.type === "checkbox") {
        if (!Array.isArray(fields[el.name])) fields[el.name] = [];
        if (el.checked) fields[el.name].push(el.value);
      } else if (el.type === "radio") {
        if (!(el.name in fields)) fields[el.name] = "";
        if (el.checked) fields[el.name] = el.value;
      } else if (el.type === "select-multiple") {
        fields[el.name] = Array.from(el.selectedOptions, (option) => option.value);
      } else {
        fields[el.name] = el.value;
      }
    }
    return fields;
  }

  function setValue(el, value) {
    const values = Array.isArray(value) ? value.map(String) : [String(value ?? "")];
    if (el.type === "checkbox" || el.type === "radio") el.checked = values.includes(el.value);
    else if (el.type === "select-multiple") for (const o of el.options) o.selected = values.includes(o.value);
    else el.value = values[0] ?? "";
  }

  // Saved fields keep document order, so each change lands after the fields it
  // depends on; a site change fetches the equipment that a later field ticks.
  async function fillForm(form, fields) {
    for (const [name, value] of Object.entries(fields)) {
      for (const el of Array.from(form.elements).filter((e) => e.name === name)) {
        setValue(el, value);
        changed(el);
      }
      await pendingLoads.get(form);
    }
  }

  // Empty values are left out so a draft that holds nothing is not offered.
  const meaningful = (fields) => JSON.stringify(Object.entries(fields).filter(([, v]) => v.length));

  function formatSavedAt(iso) {
    const saved = new Date(iso);
    if (Number.isNaN(saved.getTime())) return "earlier";
    const time = `${pad(saved.getHours())}:${pad(saved.getMinutes())}`;
    return saved.toDateString() === new Date().toDateString() ? time : `${saved.toLocaleDateString()} ${time}`;
  }

  function initDraft(form) {
    const key = PREFIX + form.dataset.draftKey;
    // Read before any saving: the first keystroke overwrites the stored draft,
    // and Restore must still bring back what was there when the page opened.
    const offered = form.hasAttribute("data-draft-restore") ? readDraft(key) : null;
    let restoring = false;
    let edited = false;

    // Not cleared on submit: the POST may never arrive on a weak connection.
    // The page shown after a successful create carries data-clear-draft.
    const save = () => {
      if (restoring) return;
      edited = true;
      writeDraft(key, { savedAt: new Date().toISOString(), fields: readFields(form) });
    };
    form.addEventListener("input", save);
    form.addEventListener("change", save);

    const banner = form.querySelector("[data-draft-banner]");
    if (!offered || !banner || meaningful(offered.fields) === meaningful(readFields(form))) return;
    const time = banner.querySelector("[data-draft-time]");
    if (time) time.textContent = formatSavedAt(offered.savedAt);
    banner.hidden = false;

    // preventDefault: a <button> without type="button" would submit the form.
    banner.querySelector("[data-draft-restore-button]")?.addEventListener("click", async (event) => {
      event.preventDefault();
      banner.hidden = true;
      // Typing since the page opened overwrote the stored draft; it is current again.
      // Intermediate states (customer set, site not yet) must not replace it.
      writeDraft(key, offered);
      restoring = true;
      await fillForm(form, offered.fields).finally(() => { restoring = false; });
    });
    banner.querySelector("[data-draft-discard-button]")?.addEventListener("click", (event) => {
      event.preventDefault();
      banner.hidden = true;
      // Once the user typed here, the stored draft is this page's own work.
      if (!edited) removeDraft(key);
    });
  }

  function initDependentSelect(select) {
    const form = select.form;
    const parentName = select.dataset.dependsOn;
    if (!form) return;
    const apply = () => {
      const chosen = form.elements.namedItem(parentName)?.value ?? "";
      for (const option of select.options) {
        if (!("parent" in option.dataset)) continue; // the placeholder always stays
        // disabled too: iOS Safari ignores hidden on <option>.
        option.hidden = option.disabled = option.dataset.parent !== chosen;
      }
      if (select.selectedOptions[0]?.hidden) {
        select.value = "";
        changed(select);
      }
    };
    form.addEventListener("change", (event) => {
      if (event.target.name === parentName) apply();
    });
    apply();
  }

  const make = (tag, properties) => Object.assign(document.createElement(tag), properties);

  // A long <select> is a slow scroll on a tablet: typing a few letters narrows it,
  // and a single match is chosen at once.
  function initSearchableSelect(select) {
    const search = make("input", { type: "search", className: "select-search", autocomplete: "off" });
    search.placeholder = select.dataset.searchable;
    search.setAttribute("aria-label", select.dataset.searchable);
    select.before(search);
    search.addEventListener("keydown", (event) => {
      if (event.key === "Enter") event.preventDefault();
    });
    search.addEventListener("input", () => {
      const words = search.value.trim().toLowerCase();
      const matches = [...select.options].filter((option) => {
        if (!option.value) return false;
        const hit = option.text.toLowerCase().includes(words);
        option.hidden = option.disabled = !hit;
        return hit;
      });
      if (matches.length === 1 && select.value !== matches[0].value) {
        select.value = matches[0].value;
        changed(select);
      }
    });
  }

  // DOM methods only: tags and details come from user-entered records.
  function renderOption(item, fieldName, ticked) {
    const box = make("input", { type: "checkbox", name: fieldName, value: String(item.id) });
    box.checked = ticked.has(box.value);
    const label = make("label", { className: "picker-option" });
    label.append(box, " ", make("span", { className: "picker-label", textContent: item.tag }));
    if (item.detail) label.append(" ", make("small", { textContent: item.detail }));
    return label;
  }

  function initPicker(container) {
    const form = container.closest("form");
    const list = container.querySelector("[data-picker-options]");
    if (!form || !list) return;
    const { optionsUrl, siteField, fieldName } = container.dataset;
    const search = container.querySelector("[data-picker-search]");
    const status = container.querySelector("[data-picker-status]");
    const summary = container.querySelector("[data-picker-selected]");
    let latest = 0;
    let failed = false;
    let carried = new Set(); // ticks that survive a failed load, for the retry

    const siteValue = () => form.elements.namedItem(siteField)?.value ?? "";
    const options = () => Array.from(list.querySelectorAll(".picker-option"));
    const isTicked = (label) => Boolean(label.querySelector("input")?.checked);
    const setStatus = (text) => { if (status) status.textContent = text; };

    function refresh() {
      const query = search ? search.value.trim().toLowerCase() : "";
      const all = options();
      for (const label of all) {
        // A ticked item never disappears: hiding it would hide a choice being submitted.
        label.hidden = !isTicked(label) && !label.textContent.toLowerCase().includes(query);
      }
      if (summary) {
        const tags = all.filter(isTicked).map((l) => (l.querySelector(".picker-label") ?? l).textContent.trim());
        summary.textContent = tags.length ? `Selected: ${tags.join(", ")}` : "None selected";
      }
      if (failed) return; // keep the error visible until the next load
      const shown = all.filter((label) => !label.hidden).length;
      if (!siteValue()) setStatus("Choose a site to see its equipment.");
      else if (!all.length) setStatus("No equipment recorded at this site.");
      else if (query) setStatus(`${shown} of ${all.length} shown`);
      else setStatus(all.length === 1 ? "1 item" : `${all.length} items`);
    }

    async function load() {
      const site = siteValue();
      const ticked = new Set([...carried, ...options().filter(isTicked).map((l) => l.querySelector("input").value)]);
      const request = ++latest; // a slow answer for an earlier site must not win
      failed = false;
      list.replaceChildren(); // at once, so the previous site's equipment cannot be ticked
      if (!site) return refresh();
      setStatus("Loading equipment…");
      try {
        const url = `${optionsUrl}?site_id=${encodeURIComponent(site)}`;
        const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const { equipment } = await response.json();
        if (request !== latest) return;
        list.replaceChildren(...equipment.map((item) => renderOption(item, fieldName, ticked)));
        carried = new Set();
      } catch {
        if (request !== latest) return;
        carried = ticked;
        failed = true;
        setStatus("Could not load the equipment list; check the connection and choose the site again.");
      }
      refresh();
    }

    form.addEventListener("change", (event) => {
      if (event.target.name === siteField) pendingLoads.set(form, load());
      else if (list.contains(event.target)) refresh();
    });
    search?.addEventListener("input", refresh);
    // Enter in the search box would otherwise submit the whole incident form.
    search?.addEventListener("keydown", (event) => {
      if (event.key === "Enter") event.preventDefault();
    });
    refresh();
  }

  // On paper every change's fields are shown: a printed timeline is a record.
  window.addEventListener("beforeprint", () => {
    document.querySelectorAll(".timeline details").forEach((details) => { details.open = true; });
  });
  // A photo input is hidden behind its button: say which files are attached.
  for (const input of document.querySelectorAll("label.file-button input[type=file]")) {
    input.addEventListener("change", () => {
      const list = input.form && input.form.querySelector("[data-file-list]");
      if (list) {
        const names = [...input.form.querySelectorAll("input[type=file]")]
          .flatMap((each) => [...each.files].map((file) => file.name));
        list.textContent = names.length ? `Attached: ${names.join(", ")}` : "";
      }
      if (input.form) showPhotoDetails(input.form);
    });
  }
  // One row per chosen photo: whether the customer sees it, and its caption. Row n goes
  // with the n-th file the form sends (file inputs in page order, files in their order),
  // so its fields are renumbered to n; what was typed for a file that stays is kept.
  function showPhotoDetails(form) {
    const rows = form.querySelector("[data-photo-details]");
    const template = form.querySelector("template[data-photo-row]");
    if (!rows || !template) return;
    const files = [...form.querySelectorAll("input[type=file]")].flatMap((each) => [...each.files]);
    const before = new Map([...rows.children].map((row) => [row.dataset.file, row]));
    rows.replaceChildren(...files.map((file, n) => {
      const key = `${n}:${file.name}:${file.size}`;
      if (before.has(key)) return before.get(key);
      const row = template.content.firstElementChild.cloneNode(true);
      row.dataset.file = key;
      for (const el of row.querySelectorAll("[name], [id], [for], [aria-describedby]")) {
        for (const attribute of ["name", "id", "for", "aria-describedby"]) {
          const value = el.getAttribute(attribute);
          if (value) el.setAttribute(attribute, value.replace(/^photo_details-0-/, `photo_details-${n}-`).replace(/ photo_details-0-/g, ` photo_details-${n}-`));
        }
      }
      row.querySelector("[data-photo-name]").textContent = file.name;
      const preview = row.querySelector("canvas");
      preview.setAttribute("aria-label", `Preview of ${file.name}`);
      drawPreview(file, preview);
      return row;
    }));
  }
  // Drawn on a canvas, as the page's content policy allows no blob: images.
  function drawPreview(file, canvas) {
    if (!window.createImageBitmap) return;
    createImageBitmap(file).then((bitmap) => {
      const scale = Math.min(canvas.width / bitmap.width, canvas.height / bitmap.height);
      const width = bitmap.width * scale;
      const height = bitmap.height * scale;
      canvas.getContext("2d").drawImage(bitmap, (canvas.width - width) / 2, (canvas.height - height) / 2, width, height);
      bitmap.close();
    }).catch(() => {});
  }
  for (const el of document.querySelectorAll("[data-clear-draft]")) {
    removeDraft(PREFIX + el.dataset.clearDraft);
    // Drop ?recorded=… so a later reload of this page cannot delete a newer draft.
    const url = new URL(location.href);
    url.searchParams.delete("recorded");
    history.replaceState(history.state, "", url);
  }
  // Pickers and dependent selects first: their listeners must exist before a restore fires changes,
  // and their on-load resets must not be taken for user edits of a draft.
  document.querySelectorAll("select[data-searchable]").forEach(initSearchableSelect);
  document.querySelectorAll("select[data-depends-on]").forEach(initDependentSelect);
  document.querySelectorAll("[data-picker]").forEach(initPicker);
  document.querySelectorAll("form[data-draft-key]").forEach(initDraft);
})();
