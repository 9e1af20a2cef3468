// Touch on the session page: a finger on the picture becomes mouse input for the remote page.
// Tap = left click, drag = button down, moves, button up, long press = right click (the page's
// context menu), two fingers moving together = wheel scroll, two fingers spreading or closing =
// zoom of this view only (the remote page keeps its size). Kept apart from session.js, which
// hands over the socket, whether this page may drive now, and its mapping to page pixels.

/** A finger held this long without moving is a long press. */
const LONG_PRESS_MS = 550;
/** Movement (screen pixels) below which a touch is still a tap or a press. */
const SLOP_PX = 10;
/** Two fingers whose distance changes by this much (screen pixels) are pinching, not scrolling. */
const PINCH_PX = 24;
/** Moves and scroll steps go out at most this often: the server takes 60 events a second per socket. */
const SEND_INTERVAL_MS = 33;
const MAX_ZOOM = 4;

export class TouchInput {
  /** The gesture under way: one finger, two fingers, or `ended` until every finger is lifted. */
  #gesture;
  #zoom = 1;
  /** A coalesced move or scroll waiting for its turn, and the timer that sends it. */
  #pending;
  #timer;

  /**
   * @param {HTMLElement} screen the picture of the remote page
   * @param {{emit: Function}} socket
   * @param {{driving: () => boolean, point: (at: {clientX: number, clientY: number}) => {x: number, y: number}, box: HTMLElement}} options
   *   `driving`: whether input from this page would reach the session now; `point`: screen → page
   *   pixels (clamped); `box`: what zooming scales (the picture and whatever lies over it).
   */
  constructor(screen, socket, { driving, point, box }) {
    this.screen = screen;
    this.socket = socket;
    this.driving = driving;
    this.point = point;
    this.box = box;
    // Not passive: preventDefault keeps the phone's browser from scrolling or zooming this page,
    // and from firing the emulated mouse events session.js would send as clicks.
    screen.addEventListener('touchstart', this.#screenOnTouchStart, { passive: false });
    screen.addEventListener('touchmove', this.#screenOnTouchMove, { passive: false });
    screen.addEventListener('touchend', this.#screenOnTouchEnd, { passive: false });
    screen.addEventListener('touchcancel', this.#screenOnTouchCancel, { passive: false });
  }

  /** How much the view is zoomed now (1 = fit). */
  get zoom() {
    return this.#zoom;
  }

  #screenOnTouchStart = (event) => {
    event.preventDefault();
    const touches = event.touches;
    if (touches.length === 1 && !this.#gesture) {
      const [touch] = touches;
      const one = { kind: 'one', start: at(touch), last: at(touch), dragging: false, pressed: false, timer: undefined };
      if (this.driving()) one.timer = setTimeout(() => this.#longPress(one), LONG_PRESS_MS);
      this.#gesture = one;
      this.screen.focus();
      return;
    }
    if (touches.length === 2 && (!this.#gesture || this.#gesture.kind === 'one')) {
      // A second finger turns a tap or drag into a two-finger gesture; a drag under way ends first.
      if (this.#gesture?.kind === 'one') this.#endOne(this.#gesture, false);
      const [a, b] = touches;
      this.#gesture = { kind: 'two', mode: undefined, startDistance: distance(a, b), startZoom: this.#zoom, last: middle(a, b) };
      return;
    }
    // A third finger, or a finger after a gesture ended: ignored until every finger is lifted.
    if (this.#gesture?.kind === 'one') this.#endOne(this.#gesture, false);
    if (this.#gesture?.kind === 'two') this.#flush();
    this.#gesture = { kind: 'ended' };
  };

  #screenOnTouchMove = (event) => {
    event.preventDefault();
    const gesture = this.#gesture;
    if (gesture?.kind === 'one' && event.touches.length === 1) return this.#moveOne(gesture, at(event.touches[0]));
    if (gesture?.kind === 'two' && event.touches.length === 2) return this.#moveTwo(gesture, event.touches[0], event.touches[1]);
  };

  #screenOnTouchEnd = (event) => {
    event.preventDefault();
    const gesture = this.#gesture;
    if (gesture?.kind === 'one') {
      this.#endOne(gesture, true);
      this.#gesture = event.touches.length === 0 ? undefined : { kind: 'ended' };
      return;
    }
    if (gesture?.kind === 'two') this.#flush();
    this.#gesture = event.touches.length === 0 ? undefined : { kind: 'ended' };
  };

  #screenOnTouchCancel = (event) => {
    event.preventDefault();
    const gesture = this.#gesture;
    if (gesture?.kind === 'one') this.#endOne(gesture, false);
    if (gesture?.kind === 'two') this.#flush();
    this.#gesture = event.touches.length === 0 ? undefined : { kind: 'ended' };
  };

  #longPress(one) {
    one.timer = undefined;
    if (this.#gesture !== one || one.dragging || !this.driving()) return;
    one.pressed = true;
    this.socket.emit('input:click', { ...this.point(one.start), button: 'right' });
  }

  #moveOne(one, where) {
    one.last = where;
    if (one.pressed || !this.driving()) return;
    if (!one.dragging) {
      if (Math.hypot(where.clientX - one.start.clientX, where.clientY - one.start.clientY) < SLOP_PX) return;
      clearTimeout(one.timer);
      one.timer = undefined;
      one.dragging = true;
      this.socket.emit('input:down', { ...this.point(one.start), button: 'left' });
    }
    this.#queue('input:move', this.point(where));
  }

  /** The finger lifted (`lifted`) or the gesture was cut short: a drag lets go where it is; a lift without moving is a tap. */
  #endOne(one, lifted) {
    clearTimeout(one.timer);
    one.timer = undefined;
    if (one.dragging) {
      this.#flush();
      this.socket.emit('input:up', { ...this.point(one.last), button: 'left' });
    } else if (lifted && !one.pressed && this.driving()) {
      this.socket.emit('input:click', { ...this.point(one.start), button: 'left' });
    }
  }

  #moveTwo(two, a, b) {
    const now = middle(a, b);
    if (two.mode === undefined) {
      if (Math.abs(distance(a, b) - two.startDistance) >= PINCH_PX) {
        two.mode = 'pinch';
        // Zoom around where the fingers are, in the box's own (unzoomed) coordinates.
        const rect = this.box.getBoundingClientRect();
        this.box.style.transformOrigin = `${(now.clientX - rect.left) / this.#zoom}px ${(now.clientY - rect.top) / this.#zoom}px`;
      } else if (Math.hypot(now.clientX - two.last.clientX, now.clientY - two.last.clientY) >= SLOP_PX) {
        two.mode = 'scroll';
      } else {
        return;
      }
    }
    if (two.mode === 'pinch') {
      this.#zoom = Math.min(MAX_ZOOM, Math.max(1, (two.startZoom * distance(a, b)) / two.startDistance));
      this.box.style.transform = this.#zoom === 1 ? '' : `scale(${this.#zoom})`;
      this.box.dataset.zoom = this.#zoom.toFixed(2);
      return;
    }
    if (!this.driving()) return;
    // Fingers moving up scroll the page down, as on a phone's own pages; screen pixels → page pixels.
    const from = this.point(two.last);
    const to = this.point(now);
    two.last = now;
    const pending = this.#pending?.event === 'input:scroll' ? this.#pending.payload : { deltaX: 0, deltaY: 0 };
    const clamp = (v) => Math.max(-10000, Math.min(10000, v));
    this.#queue('input:scroll', { deltaX: clamp(pending.deltaX + from.x - to.x), deltaY: clamp(pending.deltaY + from.y - to.y), ...to });
  }

  /** Sends at most one move or scroll per interval; the latest (a scroll: the sum) wins. */
  #queue(event, payload) {
    if (this.#pending && this.#pending.event !== event) this.#flush();
    this.#pending = { event, payload };
    this.#timer ??= setTimeout(() => this.#flush(), SEND_INTERVAL_MS);
  }

  #flush() {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending) this.socket.emit(pending.event, pending.payload);
  }
}

function at(touch) {
  return { clientX: touch.clientX, clientY: touch.clientY };
}

function middle(a, b) {
  return { clientX: (a.clientX + b.clientX) / 2, clientY: (a.clientY + b.clientY) / 2 };
}

function distance(a, b) {
  return Math.hypot(a.clientX - b.clientX, a.clientY - b.clientY);
}
