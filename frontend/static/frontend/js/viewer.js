// Image pane: fit to view, wheel/keys zoom around a point, drag to pan, 1:1 on demand.
import { el } from "./api.js";

export class ImageViewer {
  constructor(root) {
    this.root = root;
    this.viewport = root.querySelector(".viewport");
    this.label = root.querySelector("[data-zoom-label]");
    this.link = root.querySelector("[data-full-link]");
    this.img = null;
    this.scale = 1; this.x = 0; this.y = 0; this.fitScale = 1;
    this.viewport.addEventListener("wheel", (e) => {
      e.preventDefault();
      const r = this.viewport.getBoundingClientRect();
      this.zoomAt(e.deltaY < 0 ? 1.2 : 1 / 1.2, e.clientX - r.left, e.clientY - r.top);
    }, { passive: false });
    this.viewport.addEventListener("pointerdown", (e) => {
      if (!this.img) return;
      this.drag = { x: e.clientX - this.x, y: e.clientY - this.y };
      this.viewport.setPointerCapture(e.pointerId);
      this.viewport.classList.add("dragging");
    });
    this.viewport.addEventListener("pointermove", (e) => {
      if (!this.drag) return;
      this.x = e.clientX - this.drag.x; this.y = e.clientY - this.drag.y; this.apply();
    });
    const end = () => { this.drag = null; this.viewport.classList.remove("dragging"); };
    this.viewport.addEventListener("pointerup", end);
    this.viewport.addEventListener("pointercancel", end);
    this.viewport.addEventListener("dblclick", () => this.toggleFull());
    root.querySelectorAll("[data-zoom]").forEach((b) => b.addEventListener("click", () => this.command(b.dataset.zoom)));
    new ResizeObserver(() => { if (this.img && this.fitted) this.fit(); }).observe(this.viewport);
  }

  show(url, alt, preloaded) {
    this.viewport.replaceChildren();
    this.img = null;
    if (!url) {
      this.viewport.append(el("div", { class: "noimage", text: "This item has no image." }));
      this.link.hidden = true;
      return;
    }
    // A preloaded (already decoded) Image is reused so the swap costs no network or decode time.
    const img = preloaded && preloaded.src.endsWith(url) ? preloaded : new Image();
    img.alt = alt; img.draggable = false;
    if (img.src === "" || !img.src.endsWith(url)) img.src = url;
    this.img = img;
    this.viewport.append(img);
    this.link.href = url; this.link.hidden = false;
    const ready = () => { if (this.img === img) this.fit(); };
    if (img.complete && img.naturalWidth) ready(); else img.addEventListener("load", ready, { once: true });
  }

  fit() {
    if (!this.img || !this.img.naturalWidth) return;
    const vw = this.viewport.clientWidth, vh = this.viewport.clientHeight;
    this.fitScale = Math.min(vw / this.img.naturalWidth, vh / this.img.naturalHeight);
    // Tiny images (easy-VQA is 64 px) are scaled up to fill the pane; smoothing off keeps edges crisp.
    this.img.style.imageRendering = this.fitScale > 2 ? "pixelated" : "auto";
    this.scale = this.fitScale;
    this.x = (vw - this.img.naturalWidth * this.scale) / 2;
    this.y = (vh - this.img.naturalHeight * this.scale) / 2;
    this.fitted = true;
    this.apply();
  }

  zoomAt(factor, cx, cy) {
    if (!this.img) return;
    const next = Math.min(40, Math.max(0.05, this.scale * factor));
    this.x = cx - (cx - this.x) * (next / this.scale);
    this.y = cy - (cy - this.y) * (next / this.scale);
    this.scale = next; this.fitted = false; this.apply();
  }

  toggleFull() {
    if (!this.img) return;
    if (Math.abs(this.scale - 1) < 1e-3) { this.fit(); return; }
    const vw = this.viewport.clientWidth, vh = this.viewport.clientHeight;
    this.zoomAt(1 / this.scale, vw / 2, vh / 2);
  }

  command(name) {
    const vw = this.viewport.clientWidth, vh = this.viewport.clientHeight;
    if (name === "in") this.zoomAt(1.25, vw / 2, vh / 2);
    else if (name === "out") this.zoomAt(0.8, vw / 2, vh / 2);
    else if (name === "fit") this.fit();
    else if (name === "full") this.toggleFull();
  }

  apply() {
    if (!this.img) return;
    this.img.style.transform = `translate(${this.x}px, ${this.y}px) scale(${this.scale})`;
    if (this.label) this.label.textContent = `${Math.round(this.scale * 100)}%`;
  }
}
