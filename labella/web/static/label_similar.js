// The labelling view's "More like this" link: follows the item on screen and opens the data
// browser's similarity search for it (in a new tab, so the labelling queue stays as it is).
const link = document.getElementById("more-like-this");
const item = document.getElementById("item");

function follow() {
  const id = item.dataset.itemId;
  link.hidden = !id;
  if (id) link.href = `${link.pathname}?similar=${encodeURIComponent(id)}`;
}

new MutationObserver(follow).observe(item, { attributes: true, attributeFilter: ["data-item-id"] });
follow();
