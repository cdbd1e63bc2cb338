// The synthcheck guard's page: pick a detector, upload or record a clip, show the verdict.
// Self-contained (no external resources). Everything that comes from the API, transcripts above all
// (an attacker chooses them), is put into the page with textContent, never as markup.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const objectUrls = { input: null, resynthesis: null };
  let detectors = [];
  let recorder = null; // the recording in progress, see startRecording()

  // --- API -----------------------------------------------------------------------------------------

  // Authorization header only when a token was typed; it lives in the input field and nowhere else.
  function authHeaders() {
    const token = $("token").value.trim();
    return token ? { Authorization: `Bearer ${token}` } : {};
  }

  // fetch() a JSON endpoint; resolves to the body, rejects with {status, message} on any failure.
  async function api(path, options = {}) {
    let response;
    try {
      response = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
    } catch (err) {
      throw { status: 0, message: `the service cannot be reached (${err.message})` };
    }
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      // not JSON (a proxy's page, say): reported below with the status text
    }
    if (!response.ok) {
      throw { status: response.status, message: (body && body.error) || response.statusText || "request failed" };
    }
    return body;
  }

  async function loadDetectors() {
    try {
      const listing = await api("/v1/detectors");
      detectors = listing.detectors;
      const select = $("detector");
      select.replaceChildren(...detectors.map((d) => new Option(d.name, d.name, false, d.name === listing.default)));
      showDescription();
      renderError(null);
    } catch (err) {
      renderError(err.status, err.message);
    }
  }

  function showDescription() {
    const chosen = detectors.find((d) => d.name === $("detector").value);
    $("detector-description").textContent = chosen ? chosen.description : "";
  }

  // Upload one recording (a File or Blob) and show what the service answers.
  async function check(blob, filename) {
    const form = new FormData();
    form.append("audio", blob, filename);
    if ($("detector").value) form.append("detector", $("detector").value);
    form.append("include_audio", "1");
    setBusy("Checking…");
    renderError(null);
    $("result").hidden = true;
    try {
      const verdict = await api("/v1/check", { method: "POST", body: form });
      renderVerdict(verdict);
      setAudio("input", $("input-audio"), blob);
    } catch (err) {
      renderError(err.status, err.message);
    } finally {
      setBusy("");
    }
  }

  // --- Rendering -----------------------------------------------------------------------------------

  const fmt = (x) => (typeof x === "number" ? x.toFixed(3) : "–");

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  // A bar of the score on a scale that fits both it and the threshold, with a tick at the threshold.
  function bar(score, threshold, passed) {
    const scale = Math.max(1, score, threshold) || 1;
    const track = document.createElement("div");
    track.className = "bar";
    const fill = document.createElement("div");
    fill.className = passed ? "fill pass" : "fill fail";
    fill.style.width = `${(100 * Math.max(0, score)) / scale}%`;
    const tick = document.createElement("div");
    tick.className = "tick";
    tick.style.left = `${(100 * Math.max(0, threshold)) / scale}%`;
    track.append(fill, tick);
    const td = document.createElement("td");
    td.append(track);
    return td;
  }

  // The rows of the checks table: an all-of detector's members, else the detector itself.
  function memberRows(verdict) {
    const details = verdict.details || {};
    const members = details.members || {
      [verdict.detector]: { score: verdict.score, threshold: verdict.threshold, consistent: verdict.consistent },
    };
    return Object.entries(members).map(([name, member]) => {
      const row = document.createElement("tr");
      row.dataset.member = name;
      const label = cell(name, "name");
      if (name === details.decisive_member) {
        const tag = document.createElement("span");
        tag.className = "tag";
        tag.textContent = "decisive";
        label.append(" ", tag);
      }
      row.append(
        label,
        cell(fmt(member.score), "score"),
        cell(fmt(member.threshold), "threshold"),
        cell(member.consistent ? "pass" : "fail", member.consistent ? "result pass" : "result fail"),
        bar(member.score, member.threshold, member.consistent),
      );
      return row;
    });
  }

  // Show a verdict object of POST /v1/check. Writes only text, so hostile strings stay text.
  function renderVerdict(verdict) {
    const ok = Boolean(verdict.consistent);
    const title = $("verdict");
    title.textContent = ok ? "consistent" : "INCONSISTENT — possibly adversarial";
    title.className = ok ? "verdict pass" : "verdict fail";
    title.dataset.consistent = String(ok);
    $("transcript").textContent = verdict.transcript;
    $("score").textContent = `${fmt(verdict.score)} (threshold ${fmt(verdict.threshold)}; consistent when at least that)`;
    $("detector-used").textContent = `${verdict.detector} on ${verdict.recognizer}`;
    $("reason").textContent = verdict.reason || "";
    $("reason").hidden = $("reason-label").hidden = !verdict.reason;
    $("timings").textContent = Object.entries(verdict.timings || {})
      .map(([step, seconds]) => `${step} ${Number(seconds).toFixed(2)} s`)
      .join(" · ");
    $("members").replaceChildren(...memberRows(verdict));
    const resynthesis = verdict.resynthesized_wav;
    $("resynthesis").hidden = !resynthesis;
    setAudio("resynthesis", $("resynthesis-audio"), resynthesis ? wavFromBase64(resynthesis) : null);
    $("result").hidden = false;
  }

  // Show an API error line with its HTTP status (status 0: no answer); null clears the box.
  function renderError(status, message) {
    const box = $("error");
    box.textContent = status === null ? "" : status ? `HTTP ${status}: ${message}` : message;
    box.hidden = status === null;
  }

  // While waiting for the service: say so, spin, and keep both buttons from starting another check.
  function setBusy(text) {
    $("status").textContent = text;
    $("status").classList.toggle("busy", Boolean(text));
    $("check").disabled = $("record").disabled = Boolean(text);
  }

  // Point a player at a blob (or nothing), releasing the object URL it had before.
  function setAudio(key, player, blob) {
    if (objectUrls[key]) URL.revokeObjectURL(objectUrls[key]);
    objectUrls[key] = blob ? URL.createObjectURL(blob) : null;
    if (objectUrls[key]) player.src = objectUrls[key];
    else player.removeAttribute("src");
  }

  function wavFromBase64(text) {
    const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    return new Blob([bytes], { type: "audio/wav" });
  }

  // --- Recording -----------------------------------------------------------------------------------

  // The worklet copies each block of the first input channel to the page; loaded from a blob URL so
  // the page needs no extra file.
  const WORKLET = `
    registerProcessor("synthcheck-capture", class extends AudioWorkletProcessor {
      process(inputs) {
        if (inputs[0] && inputs[0][0]) this.port.postMessage(inputs[0][0].slice(0));
        return true;
      }
    });`;

  async function startRecording() {
    renderError(null);
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
      const context = new AudioContext();
      const moduleUrl = URL.createObjectURL(new Blob([WORKLET], { type: "application/javascript" }));
      await context.audioWorklet.addModule(moduleUrl);
      URL.revokeObjectURL(moduleUrl);
      const node = new AudioWorkletNode(context, "synthcheck-capture", { numberOfOutputs: 0 });
      const chunks = [];
      node.port.onmessage = (event) => chunks.push(event.data);
      context.createMediaStreamSource(stream).connect(node);
      recorder = { stream, context, node, chunks };
      $("record").textContent = "Stop";
      $("record").setAttribute("aria-pressed", "true");
      $("status").textContent = "Recording… press Stop to check it";
      $("check").disabled = true;
    } catch (err) {
      renderError(0, `cannot record from the microphone (${err.message})`);
    }
  }

  async function stopRecording() {
    const { stream, context, node, chunks } = recorder;
    recorder = null;
    node.port.onmessage = null;
    stream.getTracks().forEach((track) => track.stop());
    await context.close();
    $("record").textContent = "Record";
    $("record").setAttribute("aria-pressed", "false");
    $("check").disabled = false;
    if (!chunks.length) {
      $("status").textContent = "";
      renderError(0, "nothing was recorded");
      return;
    }
    await check(encodeWav(chunks, context.sampleRate), "recording.wav");
  }

  // Float PCM blocks in [-1, 1] -> a 16-bit mono PCM WAV blob (the service reads it without any codec).
  function encodeWav(chunks, sampleRate) {
    const frames = chunks.reduce((n, c) => n + c.length, 0);
    const view = new DataView(new ArrayBuffer(44 + 2 * frames));
    const text = (offset, s) => [...s].forEach((ch, i) => view.setUint8(offset + i, ch.charCodeAt(0)));
    text(0, "RIFF");
    view.setUint32(4, 36 + 2 * frames, true);
    text(8, "WAVE");
    text(12, "fmt ");
    view.setUint32(16, 16, true); // fmt chunk size
    view.setUint16(20, 1, true); // PCM
    view.setUint16(22, 1, true); // mono
    view.setUint32(24, sampleRate, true);
    view.setUint32(28, 2 * sampleRate, true); // bytes per second
    view.setUint16(32, 2, true); // bytes per frame
    view.setUint16(34, 16, true); // bits per sample
    text(36, "data");
    view.setUint32(40, 2 * frames, true);
    let offset = 44;
    for (const chunk of chunks) {
      for (const x of chunk) {
        const clipped = Math.max(-1, Math.min(1, x));
        view.setInt16(offset, Math.round(clipped * 32767), true);
        offset += 2;
      }
    }
    return new Blob([view], { type: "audio/wav" });
  }

  // --- Wiring --------------------------------------------------------------------------------------

  window.synthcheckPage = { renderVerdict, renderError, encodeWav };

  document.addEventListener("DOMContentLoaded", () => {
    $("detector").addEventListener("change", showDescription);
    $("token").addEventListener("change", loadDetectors); // a token may unlock the listing
    $("form").addEventListener("submit", (event) => {
      event.preventDefault();
      const file = $("file").files[0];
      if (file) check(file, file.name);
      else renderError(0, "choose a recording first, or record one");
    });
    $("record").addEventListener("click", () => (recorder ? stopRecording() : startRecording()));
    loadDetectors();
  });
})();
