// A page image with citation boxes drawn over it, and the dialog that shows a page large.
import { describe, pageImageUrl } from "./api.js";

// Where a box lands on the displayed image, in CSS pixels from the image's top-left corner.
// Boxes are in PDF points of the page as displayed; `page_size` is that page's (width, height) in points,
// so the scale is the image's displayed size over the page's size. An older server without `page_size`:
// the box in raster pixels over the image's natural size (the page route renders at the index dpi).
export function boxRect(bbox, shownWidth, shownHeight, naturalWidth, naturalHeight) {
  let box, sx, sy;
  if (bbox.page_size) {
    box = bbox.points;
    sx = shownWidth / bbox.page_size[0];
    sy = shownHeight / bbox.page_size[1];
  } else {
    box = bbox.pixels;
    sx = shownWidth / naturalWidth;
    sy = shownHeight / naturalHeight;
  }
  return { left: box[0] * sx, top: box[1] * sy, width: (box[2] - box[0]) * sx, height: (box[3] - box[1]) * sy };
}

function placeBoxes(img, layer, boxes) {
  layer.replaceChildren();
  if (!img.naturalWidth) return;
  for (const bbox of boxes) {
    const r = boxRect(bbox, img.clientWidth, img.clientHeight, img.naturalWidth, img.naturalHeight);
    const mark = document.createElement("div");
    mark.className = "bbox";
    mark.style.left = `${r.left}px`;
    mark.style.top = `${r.top}px`;
    mark.style.width = `${r.width}px`;
    mark.style.height = `${r.height}px`;
    layer.append(mark);
  }
}

// A figure holding the page image (fetched with the key) and its boxes, redrawn when the image resizes.
export function pageFigure(pageId, label, boxes = [], { large = false } = {}) {
  const frame = document.createElement("div");
  frame.className = large ? "page-frame large" : "page-frame";
  const img = document.createElement("img");
  img.alt = label;
  img.dataset.pageId = pageId;
  const layer = document.createElement("div");
  layer.className = "bbox-layer";
  frame.append(img, layer);
  const redraw = () => placeBoxes(img, layer, boxes);
  img.addEventListener("load", redraw);
  new ResizeObserver(redraw).observe(img);
  pageImageUrl(pageId)
    .then((url) => {
      img.src = url;
    })
    .catch((error) => {
      const note = document.createElement("p");
      note.className = "error";
      note.textContent = `page image unavailable: ${describe(error)}`;
      frame.replaceWith(note);
    });
  return frame;
}

let opener = null;

export function openPage(pageId, title, boxes = []) {
  const dialog = document.getElementById("viewer");
  opener = document.activeElement;
  document.getElementById("viewer-title").textContent = title;
  document.getElementById("viewer-body").replaceChildren(pageFigure(pageId, title, boxes, { large: true }));
  dialog.showModal();
  document.getElementById("viewer-close").focus();
}

export function setupViewer() {
  const dialog = document.getElementById("viewer");
  document.getElementById("viewer-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close(); // a click on the backdrop
  });
  dialog.addEventListener("close", () => {
    document.getElementById("viewer-body").replaceChildren();
    if (opener && opener.focus) opener.focus();
  });
}
