// Headless Chromium helpers for the report tests: render a report.html,
// find every canvas on the page, take a screenshot of the same page and look
// at the pixels inside each canvas's box.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { inflateSync } from 'node:zlib';

export const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
export const chromiumFlags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--hide-scrollbars'];

/** Coloured pixels a canvas must show to count as a drawn chart: 1.3 % of a 560x280 chart. The
 * control chart without data (legend boxes only) has about 450, every real chart seen so far over 4000. */
export const MIN_COLOURED = 2000;

export interface Png {
  width: number;
  height: number;
  channels: number;
  /** Unfiltered pixels, row after row, `channels` bytes each. */
  data: Uint8Array;
}

/** Decode an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium's --screenshot writes). */
export function decodePng(png: Buffer): Png {
  let pos = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (pos < png.length) {
    const len = png.readUInt32BE(pos);
    const type = png.toString('ascii', pos + 4, pos + 8);
    const chunk = png.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = chunk.readUInt32BE(0);
      height = chunk.readUInt32BE(4);
      if (chunk[8] !== 8 || chunk[12] !== 0 || (chunk[9] !== 2 && chunk[9] !== 6)) throw new Error(`unsupported PNG: depth ${chunk[8]}, colour type ${chunk[9]}, interlace ${chunk[12]}`);
      channels = chunk[9] === 6 ? 4 : 3;
    } else if (type === 'IDAT') idat.push(chunk);
    pos += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const data = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? data[row + i - channels] : 0;
      const b = y > 0 ? data[row - stride + i] : 0;
      const c = i >= channels && y > 0 ? data[row - stride + i - channels] : 0;
      let pred = 0;
      if (filter === 1) pred = a;
      else if (filter === 2) pred = b;
      else if (filter === 3) pred = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else if (filter !== 0) throw new Error(`bad PNG filter ${filter} on row ${y}`);
      data[row + i] = (raw[src + i] + pred) & 0xff;
    }
  }
  return { width, height, channels, data };
}

export interface Box {
  /** The id of the chart's container (report.html's `c-<suite>-<plot>` / `k-<n>`), or of the control canvas. */
  id: string;
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface CanvasPixels extends Box {
  pixels: number;
  /** Pixels that are not (near) white: text, axes, grid lines and data. */
  inked: number;
  /** Pixels with colour (max - min channel > 60): Chart.js draws axes, grid and text in greys, data in its palette. */
  coloured: number;
}

export interface RenderedCanvases {
  /** document.body.dataset.chartsRendered, as report.html's page script sets it. */
  rendered: number;
  canvases: CanvasPixels[];
  /** A chart-sized Chart.js chart with axes, title and legend but no data that the probe adds at the
   * end of the page: a drawn chart must have clearly more colour in it than this one. */
  control: CanvasPixels;
  /** Every <section id=...> of the page, its box and the pixels inside it. */
  sections: CanvasPixels[];
  /** Per chart box id: the tick labels Chart.js drew on each axis. */
  ticks: Record<string, { x: string[]; y: string[] }>;
  screenshot: string;
}

// Appended to a copy of the page after report.html's own scripts: a control
// chart without data, then (once the charts have drawn) every canvas's box in
// page coordinates and the page height.
const PROBE = `<script>
(() => {
  const control = document.createElement('canvas');
  control.id = 'probe-control';
  control.width = 560;
  control.height = 280;
  control.style.cssText = 'display:block;width:560px;height:280px;margin-top:8px';
  document.body.appendChild(control);
  // Axes, title and legend but no data: what a chart with nothing to plot looks like.
  new Chart(control, {
    type: 'bar',
    data: { labels: ['a', 'b', 'c'], datasets: [{ label: 'no data', data: [null, null, null] }, { label: 'none either', data: [null, null, null] }] },
    options: { animation: false, responsive: false, plugins: { title: { display: true, text: 'control: no data' } }, scales: { y: { type: 'logarithmic' } } },
  });
  setTimeout(() => {
    const boxes = [...document.querySelectorAll('canvas')].map((c) => {
      const r = c.getBoundingClientRect();
      return { id: c.id || c.parentElement.id, x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height };
    });
    // the page's sections (id'd), and what each chart's axes show (report.html's data-ticks)
    const sections = [...document.querySelectorAll('section[id]')].map((e) => {
      const r = e.getBoundingClientRect();
      return { id: e.id, x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height };
    });
    const ticks = Object.fromEntries([...document.querySelectorAll('[data-ticks]')].map((e) => [e.id, JSON.parse(e.dataset.ticks)]));
    const out = document.createElement('pre');
    out.id = 'probe';
    out.style.display = 'none';
    out.textContent = JSON.stringify({ height: document.documentElement.scrollHeight, boxes, sections, ticks });
    document.body.appendChild(out);
  }, 500);
})();
</script>`;

/** Render `htmlFile` in headless Chromium and measure the pixels inside each canvas's box on a screenshot. */
export function renderCanvases(htmlFile: string, width = 1280): RenderedCanvases {
  if (!chromium) throw new Error('no Chromium');
  const html = readFileSync(htmlFile, 'utf8');
  const at = html.lastIndexOf('</body>');
  if (at < 0) throw new Error(`${htmlFile}: no </body>`);
  const probeFile = path.join(path.dirname(htmlFile), `${path.basename(htmlFile, '.html')}.probe.html`);
  writeFileSync(probeFile, html.slice(0, at) + PROBE + html.slice(at));
  const flags = [...chromiumFlags, '--force-device-scale-factor=1', '--virtual-time-budget=5000'];
  const dom = execFileSync(chromium, [...flags, `--window-size=${width},1000`, '--dump-dom', `file://${probeFile}`], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    maxBuffer: 64 << 20,
  });
  const rendered = Number(/data-charts-rendered="(\d+)"/.exec(dom)?.[1] ?? NaN);
  const probe = /<pre id="probe"[^>]*>([^<]*)<\/pre>/.exec(dom);
  if (!probe) throw new Error(`the probe did not run in ${probeFile}`);
  const { height, boxes, sections, ticks } = JSON.parse(probe[1].replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')) as {
    height: number;
    boxes: Box[];
    sections: Box[];
    ticks: RenderedCanvases['ticks'];
  };
  const screenshot = probeFile.replace(/\.html$/, '.png');
  const shotHeight = Math.min(Math.ceil(height) + 10, 16_000);
  const r = spawnSync(chromium, [...flags, `--window-size=${width},${shotHeight}`, `--screenshot=${screenshot}`, `file://${probeFile}`], { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`chromium --screenshot exited ${r.status}`);
  const png = decodePng(readFileSync(screenshot));
  const sample = (b: Box): CanvasPixels => {
    // 2 px inside the box, so anti-aliased neighbours do not count.
    const x0 = Math.ceil(b.x) + 2;
    const y0 = Math.ceil(b.y) + 2;
    const x1 = Math.min(Math.floor(b.x + b.w) - 2, png.width);
    const y1 = Math.min(Math.floor(b.y + b.h) - 2, png.height);
    let pixels = 0;
    let inked = 0;
    let coloured = 0;
    for (let y = y0; y < y1; y++)
      for (let x = x0; x < x1; x++) {
        const o = (y * png.width + x) * png.channels;
        const [R, G, B] = [png.data[o], png.data[o + 1], png.data[o + 2]];
        pixels++;
        if (R < 240 || G < 240 || B < 240) inked++;
        if (Math.max(R, G, B) - Math.min(R, G, B) > 60) coloured++;
      }
    return { ...b, pixels, inked, coloured };
  };
  const all = boxes.map(sample);
  const control = all.find((c) => c.id === 'probe-control');
  if (!control) throw new Error('control canvas missing');
  return { rendered, canvases: all.filter((c) => c !== control), control, sections: sections.map(sample), ticks, screenshot };
}
