// The page of `stylize serve`: every change sends POST /api/stylize at preview size (the newest request
// wins: older ones are aborted), clips go through POST /api/jobs (a preview of a few frames, then the whole
// clip) and are polled for progress. Errors from the server are JSON {"error": "..."}, shown in #error.
"use strict";
const $ = (id) => document.getElementById(id);
let contentFile = null, beforeUrl = null, afterUrl = null, inFlight = null, timer = null;
let clipId = null, jobId = null, polling = null;

function showError(message) { $("error").textContent = message; $("error").hidden = !message; }

async function errorOf(response) {
  try { return (await response.json()).error || response.statusText; } catch (e) { return response.statusText; }
}

function chosenStyles() {
  const names = Array.from(document.querySelectorAll("#gallery input:checked"), (box) => box.value);
  return names.concat(Array.from($("style-files").files, (file) => file.name));
}

// One weight slider per chosen style (two or more), kept across changes of the selection.
function syncWeights() {
  const names = chosenStyles(), old = {};
  $("weights").querySelectorAll("input").forEach((input) => { old[input.dataset.name] = input.value; });
  $("weights").textContent = "";
  if (names.length < 2) return;
  for (const name of names) {
    const label = document.createElement("label");
    label.innerHTML = `<span></span><input type="range" min="0" max="1" step="0.05"><output></output>`;
    const input = label.querySelector("input");
    label.querySelector("span").textContent = name;
    input.dataset.name = name;
    input.value = old[name] ?? "1";
    label.querySelector("output").textContent = Number(input.value).toFixed(2);
    input.addEventListener("input", () => { label.querySelector("output").textContent = Number(input.value).toFixed(2); });
    $("weights").append(label);
  }
}

function styleForm(form) {
  document.querySelectorAll("#gallery input:checked").forEach((box) => form.append("style", box.value));
  for (const file of $("style-files").files) form.append("style", file, file.name);
  const weights = Array.from($("weights").querySelectorAll("input"), (input) => input.value);
  if (weights.length > 1 && weights.some((w) => Number(w) > 0)) form.append("style_weights", weights.join(","));
  form.append("alpha", $("alpha").value);
  form.append("preserve_color", $("preserve").value);
}

function photoForm(size) {
  const form = new FormData();
  if (contentFile) form.append("content", contentFile, contentFile.name);
  else if ($("sample").value) form.append("photo", $("sample").value);
  styleForm(form);
  form.append("size", size);
  return form;
}

function ready() {
  const styles = document.querySelectorAll("#gallery input:checked").length + $("style-files").files.length;
  return (contentFile || $("sample").value) && styles > 0;
}

function schedule() {
  $("alpha-value").textContent = Number($("alpha").value).toFixed(2);
  $("size-value").textContent = $("size").value;
  $("download").disabled = !ready();
  clearTimeout(timer);
  if (ready()) timer = setTimeout(preview, 200);
}

async function preview() {
  if (inFlight) inFlight.abort();
  const controller = (inFlight = new AbortController());
  const started = performance.now();
  try {
    const response = await fetch("/api/stylize", { method: "POST", body: photoForm($("size").value),
                                                   signal: controller.signal });
    if (!response.ok) { showError(await errorOf(response)); return; }
    const blob = await response.blob();
    if (afterUrl) URL.revokeObjectURL(afterUrl);
    afterUrl = URL.createObjectURL(blob);
    $("after").src = afterUrl;
    $("after").dataset.done = String(Date.now());
    $("timing").textContent = `(${((performance.now() - started) / 1000).toFixed(2)} s)`;
    $("pin").disabled = false;
    showError("");
  } catch (e) {
    if (e.name !== "AbortError") showError(`request failed: ${e.message}`);
  } finally {
    if (inFlight === controller) inFlight = null;
  }
}

async function download() {
  const form = photoForm($("full-size").value);
  form.append("keep_size", "true");
  const response = await fetch("/api/stylize", { method: "POST", body: form });
  if (!response.ok) { showError(await errorOf(response)); return; }
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = "stylized.png";
  link.click();
}

// Pin the current result with its settings, to compare variants side by side.
function pin() {
  const figure = document.createElement("figure"), img = document.createElement("img");
  img.src = $("after").src;
  afterUrl = null;  // the pinned image keeps this URL
  const caption = document.createElement("figcaption");
  const weights = Array.from($("weights").querySelectorAll("input"), (input) => input.value);
  caption.textContent = `${chosenStyles().join(" + ")}${weights.length ? ` (${weights.join(", ")})` : ""}, ` +
                        `alpha ${Number($("alpha").value).toFixed(2)}, colours ${$("preserve").value}`;
  figure.append(img, caption);
  $("variants").append(figure);
}

function setContent(file) {
  contentFile = file;
  if (beforeUrl) URL.revokeObjectURL(beforeUrl);
  beforeUrl = file ? URL.createObjectURL(file) : null;
  $("before").src = file ? beforeUrl : ($("sample").value ? `/api/photos/${encodeURIComponent($("sample").value)}` : "");
  schedule();
}

async function submitJob(form) {
  styleForm(form);
  const response = await fetch("/api/jobs", { method: "POST", body: form });
  if (!response.ok) { showError(await errorOf(response)); return null; }
  showError("");
  return response.json();
}

async function clipPreview() {
  const file = $("video-file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("video", file, file.name);
  form.append("preview_frames", $("preview-frames").value);
  form.append("size", $("size").value);
  $("job-state").textContent = "uploading…";
  const job = await submitJob(form);
  if (!job) { $("job-state").textContent = ""; return; }
  clipId = job.clip;
  follow(job);
}

async function renderClip() {
  const form = new FormData();
  form.append("clip", clipId);
  form.append("size", $("full-size").value);
  const job = await submitJob(form);
  if (job) follow(job);
}

function follow(job) {
  jobId = job.id;
  $("cancel").disabled = false;
  $("render").disabled = true;
  $("video-download").hidden = true;
  clearInterval(polling);
  polling = setInterval(async () => {
    const response = await fetch(`/api/jobs/${job.id}`);
    if (!response.ok) { clearInterval(polling); showError(await errorOf(response)); return; }
    show(await response.json());
  }, 500);
}

function show(job) {
  $("progress").value = job.progress;
  const what = job.preview ? "preview" : "whole clip";
  $("job-state").textContent = `${what}: ${job.state} ${job.frames_done}/${job.frames_total || "?"} frames`;
  if (!["queued", "running"].includes(job.state)) {
    clearInterval(polling);
    $("cancel").disabled = true;
    $("render").disabled = !clipId;
  }
  if (job.state === "failed") showError(job.error);
  if (job.state === "done" && job.preview) $("clip-preview").src = job.result;
  if (job.state === "done" && !job.preview) { $("video-download").href = job.result; $("video-download").hidden = false; }
}

async function cancelJob() {
  if (jobId) show(await (await fetch(`/api/jobs/${jobId}`, { method: "DELETE" })).json());
}

async function start() {
  const health = await (await fetch("/api/health")).json();
  $("health").textContent = `device ${health.device}, uploads up to ${health.max_upload_mb} MB`;
  $("size").value = health.preview_size;
  const gallery = await (await fetch("/api/styles")).json();
  for (const style of gallery.styles) {
    const label = document.createElement("label");
    label.innerHTML = `<input type="checkbox" value=""><img alt=""><span></span>`;
    label.querySelector("input").value = style.name;
    label.querySelector("img").src = style.url;
    label.querySelector("img").alt = style.name;
    label.querySelector("span").textContent = style.name;
    $("gallery").append(label);
  }
  for (const photo of gallery.photos) $("sample").append(new Option(photo.name, photo.name));
  if (!gallery.styles.length) $("gallery").textContent = "No bundled gallery here (see --gallery): upload a style.";
  $("content-file").addEventListener("change", () => setContent($("content-file").files[0] || null));
  $("sample").addEventListener("change", () => { $("content-file").value = ""; setContent(null); });
  $("gallery").addEventListener("change", () => { syncWeights(); schedule(); });
  for (const id of ["weights", "alpha", "preserve", "size"]) $(id).addEventListener("input", schedule);
  $("style-files").addEventListener("change", () => { syncWeights(); schedule(); });
  $("download").addEventListener("click", download);
  $("pin").addEventListener("click", pin);
  $("video-file").addEventListener("change", clipPreview);
  $("render").addEventListener("click", renderClip);
  $("cancel").addEventListener("click", cancelJob);
  schedule();
}

start().catch((e) => showError(`cannot reach the server: ${e.message}`));
