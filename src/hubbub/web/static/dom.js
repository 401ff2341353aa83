// Building the page's elements: one helper every screen's script imports, so text from the
// server is always set as text (textContent), never parsed as HTML.

export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}
