// colorcli review: the page's script. It reads the cards' data from the JSON block in the page, draws a
// light card per file at once and fills in a card's pictures and details only when it comes near the view.
// It fetches nothing; the marks stay in this browser (localStorage) until saved as a file.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("review-data").textContent);
  const cards = data.cards;
  const byId = new Map(cards.map((card) => [card.id, card]));
  const $ = (id) => document.getElementById(id);
  const list = $("cards");
  const storeKey = "colorcli-review:" + data.out;
  const elements = new Map(); // card id -> its <article>
  let marks = loadMarks();
  let shown = []; // the cards the filters let through, in the chosen order
  let current = -1; // index into shown of the card the keys act on

  function loadMarks() {
    try {
      const stored = JSON.parse(localStorage.getItem(storeKey) || "{}");
      return stored && typeof stored === "object" ? stored : {};
    } catch (error) {
      return {};
    }
  }

  function storeMarks() {
    try {
      localStorage.setItem(storeKey, JSON.stringify(marks));
    } catch (error) {
      // storage is off or full: the marks still hold on this page and can be saved as a file
    }
  }

  function esc(text) {
    return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  function fileUrl(path) {
    return "file://" + (path.startsWith("/") ? "" : "/") + path.split(/[\\/]/).map(encodeURIComponent).join("/");
  }

  // --- cards -------------------------------------------------------------------------------------

  function shell(card) {
    const ratio = card.w && card.h ? card.w / card.h : 1.5;
    return '<article class="card ' + esc(card.status) + '" id="card-' + card.id + '" data-id="' + card.id + '">' +
      '<h2><span class="status ' + esc(card.status) + '">' + esc(card.status) + "</span>" +
      '<span class="markbadge"></span> ' + esc(card.output) + "</h2>" +
      '<p class="reason">' + esc(card.reason || (card.aside ? "" : "colorized")) +
      (card.aside ? " (moved to ." + esc(card.aside === "rejected" ? "rejected" : "redo") + "/)" : "") + "</p>" +
      '<div class="picture" style="aspect-ratio: ' + ratio + "; --r: " + ratio + '"></div></article>';
  }

  function img(cls, src, alt) {
    return '<img class="' + cls + '" src="' + esc(src) + '" alt="' + esc(alt) + '" loading="lazy" decoding="async">';
  }

  function boxes(card) {
    return (card.boxes || []).map((b) => '<div class="box" title="the print found on its mount" style="left:' +
      b[0] * 100 + "%;top:" + b[1] * 100 + "%;width:" + b[2] * 100 + "%;height:" + b[3] * 100 + '%"></div>').join("");
  }

  function number(value) {
    return typeof value === "number" ? (Math.abs(value) >= 100 ? value.toFixed(1) : value.toFixed(3)) : String(value);
  }

  function fill(card, element) {
    if (element.dataset.filled) return;
    element.dataset.filled = "1";
    const picture = element.querySelector(".picture");
    let inside = "";
    let slider = "";
    if (card.before && card.after) {
      inside = img("after", card.after, "after: " + card.output) + img("before", card.before, "before: " + card.output) +
        '<div class="divider"></div><span class="label l">before</span><span class="label r">after</span>';
      slider = '<input type="range" class="slider" min="0" max="100" value="50" aria-label="before | after">';
    } else if (card.before || card.after) {
      inside = img("single", card.before || card.after, card.output) +
        '<span class="label l">' + (card.before ? "input, not colorized" : "output (its input is gone)") + "</span>";
    } else {
      inside = '<div class="none">no picture: ' + esc(card.status === "failed" ? "the input could not be read" : "none found") + "</div>";
    }
    picture.innerHTML = inside + boxes(card);
    let details = "";
    const rows = Object.keys(card.metrics).map((name) => "<dt>" + esc(name) + "</dt><dd>" + esc(number(card.metrics[name])) + "</dd>");
    if (card.seconds != null) rows.push("<dt>seconds</dt><dd>" + esc(number(card.seconds)) + "</dd>");
    if (card.tone) rows.push("<dt>tone</dt><dd>" + esc(card.tone) + "</dd>");
    if (card.mount) {
      const sure = card.mount_confidence != null ? " (sure: " + card.mount_confidence + ")" : "";
      rows.push("<dt>mount</dt><dd>" + esc(card.mount + sure) + "</dd>");
    }
    if (card.metrics_error) rows.push("<dt>metrics</dt><dd>" + esc(card.metrics_error) + "</dd>");
    details += "<dl>" + rows.join("") + "</dl>";
    if (card.ref) details += "<figure>" + img("ref", card.ref, "original: " + card.output) + "<figcaption>original</figcaption></figure>";
    const paths = '<p class="paths">input: ' + (card.input ? '<a href="' + esc(fileUrl(card.input)) + '">' + esc(card.input) + "</a>" : "?") +
      (card.after ? '<br>output: <a href="' + esc(card.href) + '">' + esc(card.output) + "</a>" : "") +
      (card.reference ? "<br>original: " + esc(card.reference) : "") + "</p>";
    const buttons = '<p class="marks"><button type="button" data-mark="rejected" aria-pressed="false">Reject (x)</button>' +
      '<button type="button" data-mark="redo" aria-pressed="false">Redo (r)</button></p>';
    picture.insertAdjacentHTML("afterend", slider + '<div class="details">' + details + "</div>" + paths + buttons);
    showMark(card, element);
  }

  function showMark(card, element) {
    const mark = marks[card.output] || "";
    element.classList.toggle("mark-rejected", mark === "rejected");
    element.classList.toggle("mark-redo", mark === "redo");
    element.querySelector(".markbadge").textContent = mark;
    element.querySelectorAll("button[data-mark]").forEach((button) => {
      button.setAttribute("aria-pressed", String(button.dataset.mark === mark));
    });
  }

  function setMark(card, mark) {
    if (!mark || marks[card.output] === mark) delete marks[card.output];
    else marks[card.output] = mark;
    storeMarks();
    showMark(card, elements.get(card.id));
    countMarks();
  }

  function countMarks() {
    const values = Object.values(marks);
    const rejected = values.filter((m) => m === "rejected").length;
    $("marked").textContent = "marked: " + rejected + " rejected, " + (values.length - rejected) + " redo";
  }

  // --- filters and order -------------------------------------------------------------------------

  function options(select, values, label) {
    const counts = new Map();
    for (const value of values) counts.set(value, (counts.get(value) || 0) + 1);
    const keys = [...counts.keys()].sort();
    select.insertAdjacentHTML("beforeend", keys.map((key) =>
      '<option value="' + esc(key) + '">' + esc(label ? label(key) : key) + " (" + counts.get(key) + ")</option>").join(""));
  }

  const reasonOf = (card) => card.reason || "(none)";
  const sortKeys = {
    name: (card) => card.output,
    time: (card) => card.seconds,
  };
  for (const name of data.metrics) sortKeys["metric:" + name] = (card) => card.metrics[name];

  function compare(key, reverse) {
    return (a, b) => {
      const x = key(a);
      const y = key(b);
      const missingX = x == null;
      const missingY = y == null;
      if (missingX || missingY) return missingX === missingY ? a.id - b.id : missingX ? 1 : -1; // no value: last
      const order = x < y ? -1 : x > y ? 1 : a.id - b.id;
      return reverse ? -order : order;
    };
  }

  function update() {
    const status = $("f-status").value;
    const reason = $("f-reason").value;
    const folder = $("f-folder").value;
    const mark = $("f-mark").value;
    const keep = shown[current];
    shown = cards.filter((card) =>
      (!status || card.status === status) && (!reason || reasonOf(card) === reason) &&
      (!folder || card.folder === folder) &&
      (!mark || (mark === "none" ? !marks[card.output] : marks[card.output] === mark)));
    shown.sort(compare(sortKeys[$("sort").value] || sortKeys.name, $("reverse").checked));
    list.replaceChildren(...shown.map((card) => elements.get(card.id)));
    current = keep ? shown.indexOf(keep) : -1;
    $("shown").textContent = "showing " + shown.length + " of " + cards.length;
  }

  // --- keys and the current card -------------------------------------------------------------------

  function select(index) {
    if (!shown.length) return;
    if (current >= 0 && shown[current]) elements.get(shown[current].id).classList.remove("current");
    current = Math.max(0, Math.min(shown.length - 1, index));
    const card = shown[current];
    const element = elements.get(card.id);
    fill(card, element);
    element.classList.add("current");
    element.scrollIntoView({ block: "center" });
  }

  function setSplit(element, value) {
    const slider = element.querySelector(".slider");
    if (!slider) return;
    slider.value = value;
    element.querySelector(".picture").style.setProperty("--split", value + "%");
  }

  function toggle(element) {
    const slider = element.querySelector(".slider");
    if (slider) setSplit(element, Number(slider.value) === 100 ? 0 : 100);
  }

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey || target.tagName === "SELECT" ||
        (target.tagName === "INPUT" && target.type !== "range" && target.type !== "checkbox")) return;
    const onSlider = target.tagName === "INPUT" && target.type === "range";
    const card = shown[current];
    const element = card && elements.get(card.id);
    const key = event.key;
    if (key === "j" || (key === "ArrowRight" && !onSlider)) select(current + 1);
    else if (key === "k" || (key === "ArrowLeft" && !onSlider)) select(current < 0 ? 0 : current - 1);
    else if (key === "b" && element) toggle(element);
    else if (key === " " && element) {
      if (!event.repeat) element.querySelector(".picture").classList.add("held");
    } else if (key === "x" && card) setMark(card, "rejected");
    else if (key === "r" && card) setMark(card, "redo");
    else if (key === "u" && card) setMark(card, null);
    else return;
    event.preventDefault();
  });

  document.addEventListener("keyup", (event) => {
    if (event.key === " ") document.querySelectorAll(".picture.held").forEach((p) => p.classList.remove("held"));
  });

  list.addEventListener("input", (event) => {
    if (event.target.classList.contains("slider")) setSplit(event.target.closest(".card"), event.target.value);
  });

  list.addEventListener("click", (event) => {
    const element = event.target.closest(".card");
    if (!element) return;
    const card = byId.get(Number(element.dataset.id));
    const index = shown.indexOf(card);
    if (index !== current) {
      if (current >= 0 && shown[current]) elements.get(shown[current].id).classList.remove("current");
      current = index;
      element.classList.add("current");
    }
    const button = event.target.closest("button[data-mark]");
    if (button) {
      setMark(card, button.dataset.mark);
      button.blur(); // the keys go on acting on the page, not on the button (space would press it again)
    }
  });

  // --- saving the marks ------------------------------------------------------------------------------

  $("save").addEventListener("click", () => {
    const known = new Set(cards.map((card) => card.output));
    const saved = {};
    for (const output of Object.keys(marks).sort()) if (known.has(output)) saved[output] = marks[output];
    const body = JSON.stringify({ colorcli_review: 1, out: data.out, saved: new Date().toISOString(), marks: saved }, null, 2);
    const url = URL.createObjectURL(new Blob([body + "\n"], { type: "application/json" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = data.marks_file;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 5000);
  });

  // --- start -------------------------------------------------------------------------------------------

  options($("f-status"), cards.map((card) => card.status));
  options($("f-reason"), cards.map(reasonOf));
  options($("f-folder"), cards.map((card) => card.folder));
  $("sort").insertAdjacentHTML("beforeend", data.metrics.map((name) =>
    '<option value="metric:' + esc(name) + '">' + esc(name) + "</option>").join(""));
  for (const id of ["f-status", "f-reason", "f-folder", "f-mark", "sort", "reverse"]) $(id).addEventListener("change", update);

  list.innerHTML = cards.map(shell).join("");
  for (const element of list.children) elements.set(Number(element.dataset.id), element);
  const near = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      near.unobserve(entry.target);
      fill(byId.get(Number(entry.target.dataset.id)), entry.target);
    }
  }, { rootMargin: "600px 0px" });
  for (const card of cards) {
    const element = elements.get(card.id);
    near.observe(element);
    if (marks[card.output]) showMark(card, element);
  }
  $("controls").hidden = false;
  $("keys").hidden = false;
  countMarks();
  update();
  document.documentElement.dataset.ready = "yes";
  if (window.performance && performance.mark) performance.mark("review-ready");
})();
