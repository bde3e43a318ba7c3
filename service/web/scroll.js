// Sideways-scrolling boxes (wide tables, long arrays) that a keyboard can scroll too.

/**
 * While `element`'s content is wider than the element, make it a named, focusable region so
 * the arrow keys can scroll it (WCAG 2.1.1); when everything fits it is no tab stop at all.
 */
export function scrollableByKeyboard(element, label) {
  const update = () => {
    if (element.scrollWidth > element.clientWidth + 1) {
      element.tabIndex = 0;
      element.setAttribute('role', 'region');
      element.setAttribute('aria-label', label);
    } else {
      element.removeAttribute('tabindex');
      element.removeAttribute('role');
      element.removeAttribute('aria-label');
    }
  };
  const observer = new ResizeObserver(update);
  observer.observe(element);
  // The box keeps its size when only its content grows (a table redrawn in place).
  if (element.firstElementChild) observer.observe(element.firstElementChild);
  return element;
}
