// The page's live view: the state line, the level meters and the VAD timeline, drawn in
// the browser from one JSON feed (components/live/route.py) read a few times a second,
// and "watchers" that ask Streamlit to rerun a fragment only when what it draws changed.
// Text from the server is set as textContent: it is never parsed as HTML.

const FAST_MS = 333; // during a call: 3 updates a second
const SLOW_MS = 1000; // otherwise: enough to notice a call starting or ending
// The timeline is history: redrawn twice a second (or at once when the threshold moves),
// while the meters, which show that the call is alive, follow every update.
const TIMELINE_MS = 450;
const COLOURS = {
  you: "#1f77b4",
  model: "#9467bd",
  speech: "rgba(174, 199, 232, 0.55)",
  answering: "rgba(255, 187, 120, 0.55)",
  cut: "#d62728",
};
const BADGE = {
  green: "#21c354",
  blue: "#1c83e1",
  orange: "#ff8700",
  violet: "#803df5",
  red: "#ff2b2b",
  gray: "#808495",
};

// One poller per feed URL, shared by every view on the page.
function feedFor(url) {
  const all = (window.__voicelabFeeds ??= new Map());
  let feed = all.get(url);
  if (feed) return feed;
  // `from`: the first turn the page's turns view draws (the feed sends the turns after it)
  feed = { url, views: new Set(), last: null, timer: null, busy: false, gone: false, from: 0 };
  const tick = async () => {
    feed.timer = null;
    if (!feed.views.size || feed.gone) return;
    if (!document.hidden && !feed.busy) {
      feed.busy = true;
      try {
        const answer = await fetch(`${url}?from=${feed.from}`, { cache: "no-store" });
        if (answer.status === 404) feed.gone = true;
        else if (answer.ok) {
          feed.last = await answer.json();
          for (const view of feed.views) view(feed.last);
        }
      } catch (e) {
        // the server is restarting or the network is down: the next tick tries again
      } finally {
        feed.busy = false;
      }
    }
    feed.timer = setTimeout(tick, feed.last && feed.last.active ? FAST_MS : SLOW_MS);
  };
  feed.start = () => {
    if (feed.timer === null && !feed.busy) feed.timer = setTimeout(tick, 0);
  };
  all.set(url, feed);
  return feed;
}

function subscribe(url, view) {
  const feed = feedFor(url);
  feed.views.add(view);
  if (feed.last) view(feed.last);
  feed.start();
  return () => feed.views.delete(view);
}

// Writes only what changed: every write of text or style makes the browser lay out and
// paint again, and on a page this size a frame costs far more than the update itself.
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function setStyle(node, name, value) {
  if (node.style[name] !== value) node.style[name] = value;
}

function setData(node, name, value) {
  if (node.dataset[name] !== value) node.dataset[name] = value;
}

function element(parent, tag, className) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  parent.appendChild(made);
  return made;
}

// streamlit-webrtc shows a failed getUserMedia ("NotAllowedError: Permission denied") as an
// error alert inside its own frame, which the app's state knew nothing about: it is read
// from there (same origin) and handed to Python, which says it in plain words.
function browserError(frameSelector) {
  const frame = document.querySelector(frameSelector);
  const alert = frame?.contentDocument?.querySelector(
    ".MuiAlert-colorError .MuiAlert-message, .MuiAlert-standardError .MuiAlert-message",
  );
  return alert?.textContent?.trim() || null;
}

// A microphone that goes away mid-call (unplugged, turned off, taken by another program)
// ends its track with an `ended` event, which streamlit-webrtc does not listen for: the call
// ended without a word (or went on with no voice until the silence watchdog ended it), and
// the widget still offered Stop. So getUserMedia in its frame (same origin) is wrapped, and
// every microphone track it opens is watched; stop(), which the widget's own Stop calls,
// fires no `ended`. The wrapper goes in when the state view is drawn, and the frame is
// looked at often, so that it goes back in if the frame reloads.
const MIC_WATCH_MS = 100;

function watchMicrophones(frameSelector) {
  const media = document.querySelector(frameSelector)?.contentWindow?.navigator?.mediaDevices;
  if (!media?.getUserMedia || media.getUserMedia.__voicelab) return;
  const open = media.getUserMedia.bind(media);
  const watched = (constraints) =>
    open(constraints).then((stream) => {
      for (const track of stream.getAudioTracks()) {
        const lost = () => window.__voicelabMicLost?.(track);
        track.addEventListener("ended", lost, { once: true });
      }
      return stream;
    });
  watched.__voicelab = true;
  media.getUserMedia = watched;
}

// The widget's Stop button, while it shows one (a call is on).
function stopButton(frameSelector) {
  const frame = document.querySelector(frameSelector)?.contentDocument;
  const buttons = [...(frame?.querySelectorAll("button") ?? [])];
  return buttons.find((b) => b.textContent.trim() === "Stop") ?? null;
}

// A lost microphone is told to Python, which hangs the call up and says so; then the
// widget's Stop is pressed, so that its button offers Start again and a new Start opens the
// microphone afresh. Not at once: the rerun of Stop's click could overtake the report's, and
// the report was lost (4 times in 14). So Stop waits for the feed to show the call over with
// a sentence; the report goes again if none comes, and Stop is pressed in the end anyway.
const RESEND_MS = 1500;
const STOP_LATEST_MS = 6000;

function stateView(root, data, setTriggerValue) {
  window.__voicelabMicWatch ??= setInterval(() => watchMicrophones(data.frame), MIC_WATCH_MS);
  watchMicrophones(data.frame);
  const report = (loss) => {
    loss.sentAt = Date.now();
    setTriggerValue("mic_lost", { device: loss.device, at: loss.at });
  };
  window.__voicelabMicLost = (track) => {
    if (!stopButton(data.frame)) return; // not in a call: a Start will say what is wrong
    window.__voicelabMicLoss = { device: track.label, at: Date.now(), sentAt: 0 };
    report(window.__voicelabMicLoss);
  };
  const settleMicLoss = (feed) => {
    const loss = window.__voicelabMicLoss; // kept on window: the report reruns the page
    if (!loss) return;
    const now = Date.now();
    if ((!feed.active && feed.state.problem) || now - loss.at > STOP_LATEST_MS) {
      window.__voicelabMicLoss = null;
      stopButton(data.frame)?.click();
    } else if (now - loss.sentAt > RESEND_MS) report(loss);
  };
  const badge = element(root, "div", "vl-badge");
  const more = element(root, "details", "vl-details");
  element(more, "summary").textContent = "Details";
  const line = element(more, "div", "vl-caption");
  const problems = element(root, "div");
  return (feed) => {
    settleMicLoss(feed);
    const raw = browserError(data.frame);
    if (raw !== (window.__voicelabBrowserError ?? null)) {
      window.__voicelabBrowserError = raw; // once per error; again if it comes back later
      if (raw) setTriggerValue("browser_error", raw);
    }
    const state = feed.state;
    setText(badge, state.words);
    setStyle(badge, "background", BADGE[state.colour] || BADGE.gray);
    setText(line, state.details);
    const shown = [];
    if (state.problem) shown.push(["vl-error", state.problem]);
    if (state.cap) shown.push(["vl-info", state.cap]);
    for (const message of state.errors) shown.push(["vl-warning", message]);
    const key = JSON.stringify(shown);
    if (problems.dataset.shown === key) return;
    problems.dataset.shown = key;
    problems.replaceChildren();
    for (const [kind, text] of shown) element(problems, "div", kind).textContent = text;
  };
}

function meter(parent, label, colour) {
  const box = element(parent, "div", "vl-meter");
  const text = element(box, "div", "vl-meter-label");
  const bar = element(element(box, "div", "vl-meter-track"), "div", "vl-meter-bar");
  bar.style.background = colour;
  return (dbfs, silent, floor) => {
    setText(text, `${label}: ${dbfs <= silent ? "silent" : `${Math.round(dbfs)} dBFS`}`);
    const shown = Math.max(dbfs, floor);
    // a transform, not a width: it moves the bar without laying anything out
    setStyle(bar, "transform", `scaleX(${((shown - floor) / -floor).toFixed(3)})`);
    setData(box, "dbfs", String(dbfs));
  };
}

function drawTimeline(canvas, m) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
  if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  const ink = getComputedStyle(canvas).color;
  const left = 34;
  const bottom = 18;
  const plotW = width - left - 4;
  const plotH = height - bottom - 4;
  const x = (t) => left + ((t + m.window) / m.window) * plotW;
  const y = (db) => 4 + ((0 - Math.max(db, m.floor)) / -m.floor) * plotH;
  g.font = "10px sans-serif";
  g.fillStyle = ink;
  g.strokeStyle = ink;
  g.globalAlpha = 0.25;
  for (let db = m.floor; db <= 0; db += 20) {
    g.beginPath();
    g.moveTo(left, y(db));
    g.lineTo(left + plotW, y(db));
    g.stroke();
  }
  g.globalAlpha = 0.8;
  g.textAlign = "right";
  g.textBaseline = "middle";
  for (let db = m.floor; db <= 0; db += 20) g.fillText(String(db), left - 4, y(db));
  g.textAlign = "center";
  g.textBaseline = "top";
  for (let t = -m.window; t <= 0; t += 5) g.fillText(`${t}s`, x(t), height - bottom + 4);
  g.globalAlpha = 1;
  for (const span of m.spans) {
    g.fillStyle = COLOURS[span.what];
    g.fillRect(x(span.t), y(0), Math.max(x(span.t2) - x(span.t), 1), y(m.floor) - y(0));
  }
  for (const [who, points] of [["you", m.you_levels], ["model", m.model_levels]]) {
    if (!points.some((db) => db !== null)) continue;
    g.strokeStyle = COLOURS[who];
    g.lineWidth = 1.5;
    g.beginPath();
    // a step per bin; a gap where no audio went out
    points.forEach((db, i) => {
      if (db === null) return;
      const t = -m.window + i * m.bin;
      const before = i > 0 ? points[i - 1] : null;
      if (before === null) g.moveTo(x(t), y(db));
      else g.lineTo(x(t), y(before)), g.lineTo(x(t), y(db));
    });
    g.stroke();
  }
  g.strokeStyle = COLOURS.cut;
  g.lineWidth = 2;
  for (const t of m.cuts) {
    g.beginPath();
    g.moveTo(x(t), y(0));
    g.lineTo(x(t), y(m.floor));
    g.stroke();
  }
  if (m.threshold !== null) {
    g.strokeStyle = ink;
    g.lineWidth = 1;
    g.setLineDash([4, 3]);
    g.beginPath();
    g.moveTo(left, y(m.threshold));
    g.lineTo(left + plotW, y(m.threshold));
    g.stroke();
    g.setLineDash([]);
  }
}

function metersView(root) {
  const row = element(root, "div", "vl-meters");
  const you = meter(row, "You", COLOURS.you);
  const model = meter(row, "Model", COLOURS.model);
  const canvas = element(root, "canvas", "vl-timeline");
  const legend = element(root, "div", "vl-legend");
  for (const [what, label] of [
    ["you", "you"],
    ["model", "model"],
    ["speech", "speech (server)"],
    ["answering", "answering"],
    ["cut", "you cut in"],
  ]) {
    const item = element(legend, "span", "vl-legend-item");
    element(item, "span", "vl-swatch").style.background = COLOURS[what];
    element(item, "span").textContent = label;
  }
  const caption = element(root, "div", "vl-caption");
  let drawnAt = 0;
  let drawnThreshold;
  return (feed) => {
    const m = feed.meters;
    if (!m) {
      you(-120, -100, -80);
      model(-120, -100, -80);
      setText(caption, "The VAD timeline appears once a call starts.");
      return;
    }
    you(m.you, m.silent, m.floor);
    model(m.model, m.silent, m.floor);
    const now = performance.now();
    if (now - drawnAt >= TIMELINE_MS || m.threshold !== drawnThreshold) {
      drawTimeline(canvas, m);
      drawnAt = now;
      drawnThreshold = m.threshold;
    }
    setData(root, "speechSpans", String(m.spans.filter((s) => s.what === "speech").length));
    setData(root, "threshold", m.threshold === null ? "" : String(m.threshold));
    setText(
      caption,
      m.threshold === null
        ? "Shaded blue: where the server heard speech; orange: answering."
        : "Shaded blue: where the server heard speech. Dashed: the level clear speech " +
          `needs at this threshold (${Math.round(m.threshold)} dBFS).`,
    );
  };
}

const MARKS = { streaming: " …", interrupted: " ⟂ (interrupted)", failed: " (failed)" };
const AVATARS = { user: "face", assistant: "smart_toy" };

// The turns the page has not drawn yet, drawn the way components/conversation.py draws
// them (the same keys, so readers and tests find a turn the same way either way).
function turnsView(root, data, feed) {
  feed.from = data.drawn;
  const drawn = new Map();
  return (feed) => {
    const keep = new Set();
    for (const turn of feed.turns) {
      if (turn.index < data.drawn) continue;
      keep.add(turn.key);
      let shown = drawn.get(turn.key);
      if (!shown) {
        const box = element(root, "div", `vl-turn vl-turn-${turn.role} st-key-${turn.key}`);
        element(box, "div", `vl-avatar vl-avatar-${turn.role}`).textContent = AVATARS[turn.role];
        const body = element(box, "div", "vl-turn-body");
        const text = element(body, "div", "vl-turn-text");
        const words = element(text, "span");
        const mark = element(text, "em", "vl-mark");
        shown = { words, mark, meta: element(body, "div", "vl-caption"), sig: "" };
        drawn.set(turn.key, shown);
      }
      const sig = JSON.stringify([turn.text, turn.status, turn.meta]);
      if (shown.sig === sig) continue;
      shown.sig = sig;
      setText(shown.words, turn.text || "…");
      setText(shown.mark, turn.text ? MARKS[turn.status] || "" : "");
      setText(shown.meta, turn.meta);
    }
    for (const [key, shown] of drawn) {
      if (keep.has(key)) continue;
      shown.words.closest(".vl-turn").remove();
      drawn.delete(key);
    }
  };
}

// Asks Streamlit to rerun the fragment this watcher is drawn in when the feed's version of
// `part` differs from the one that fragment drew (`seen`): once per version (again only if
// that rerun seems lost), at most once per `every_ms`, both counted across mounts since
// each rerun mounts the watcher again. With `batch`, `part` is a count that the live view
// draws meanwhile: during a call, wait until it has grown by `batch`.
const LOST_MS = 5000;

function watchView(root, data, setTriggerValue) {
  const asked = (window.__voicelabAsked ??= new Map());
  return (feed) => {
    const now = Date.now();
    const version = feed.versions[data.part];
    if (version === data.seen) return;
    if (data.batch > 1 && feed.active && version - data.seen < data.batch) return;
    const last = asked.get(data.name);
    if (last && now - last.at < (last.version === version ? LOST_MS : data.every_ms)) return;
    asked.set(data.name, { version, at: now });
    setTriggerValue("changed", version);
  };
}

// Streamlit calls this again whenever the fragment around it reruns with new data, and
// calls the returned cleanup only on unmount: so each mount replaces its previous view.
export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  parentElement.__vlStop?.();
  parentElement.querySelector(":scope > .vl-live")?.remove();
  const root = element(parentElement, "div", `vl-live vl-${data.view}`);
  const feed = feedFor(data.url);
  const view =
    data.view === "state"
      ? stateView(root, data, setTriggerValue)
      : data.view === "meters"
        ? metersView(root)
        : data.view === "turns"
          ? turnsView(root, data, feed)
          : watchView(root, data, setTriggerValue);
  const stop = subscribe(data.url, view);
  parentElement.__vlStop = stop;
  return stop;
}
