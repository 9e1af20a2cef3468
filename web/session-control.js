// Control and presence on the session page: who watches, who controls, the buttons to ask for,
// hand over, give up or take control, and the other viewers' pointers over the picture. Kept
// apart from session.js, which asks `mayInput()` before sending input and passes its pointer on.

const $ = (id) => document.getElementById(id);

/** Pointer positions go out at most this often (the server batches at the same pace). */
const POINTER_INTERVAL_MS = 50;

export class ControlPanel {
  /** This page's own `{id, name}` among the viewers, once subscribed. */
  #you;
  /** The last `control:state`. */
  #state;
  #viewers = [];
  #pendingPointer;
  #pointerTimer;
  /** Page size in CSS pixels, for placing pointers over the picture. */
  #page = { width: 1, height: 1 };
  #dots = new Map();

  constructor(socket, say) {
    this.socket = socket;
    this.say = say;
    socket.on('presence:you', (you) => {
      this.#you = you;
      this.#render();
    });
    socket.on('control:state', (state) => {
      this.#state = state;
      if (!state.pointers) this.#clearDots();
      this.#render();
    });
    socket.on('presence', ({ viewers }) => {
      this.#viewers = viewers;
      for (const id of [...this.#dots.keys()]) if (!viewers.some((v) => v.id === id)) this.#removeDot(id);
      this.#render();
    });
    socket.on('control:denied', ({ by }) => say(`${by.name} turned down your request for control`));
    socket.on('pointers', ({ pointers }) => {
      for (const pointer of pointers) if (pointer.id !== this.#you?.id) this.#placeDot(pointer);
    });
    socket.on('disconnect', () => {
      this.#you = undefined;
      this.#state = undefined;
      this.#viewers = [];
      this.#clearDots();
      this.#render();
    });
    $('control-request').addEventListener('click', () => this.#act('control:request'));
    $('control-release').addEventListener('click', () => this.#act('control:release'));
    $('control-take').addEventListener('click', () => this.#act('control:take'));
    $('pointer-share').addEventListener('change', (event) => this.#act('pointer:share', { enabled: event.target.checked }));
    this.#render();
  }

  /** The session page shown now: its size places the pointers. */
  setPage(width, height) {
    this.#page = { width, height };
  }

  /** Whether this page's input would reach the session: anyone's while open, the controller's after. */
  mayInput() {
    return !this.#state || this.#state.mode === 'open' || this.#state.controller?.id === this.#you?.id;
  }

  /** This page's pointer, in page pixels: sent (latest wins) while the controller shares pointers. */
  pointer(point) {
    if (!this.#state?.pointers) return;
    this.#pendingPointer = point;
    this.#pointerTimer ??= setTimeout(() => {
      this.#pointerTimer = undefined;
      this.socket.emit('pointer:move', this.#pendingPointer);
    }, POINTER_INTERVAL_MS);
  }

  async #act(event, payload = {}) {
    const answer = await this.socket.timeout(10_000).emitWithAck(event, payload).catch((error) => ({ error: { message: error.message } }));
    if (answer?.error) this.say(answer.error.message);
    this.#render();
  }

  #render() {
    const state = this.#state;
    const you = this.#you;
    const controller = state?.controller;
    const mine = controller && controller.id === you?.id;
    const label = !state ? 'Not watching'
      : state.mode === 'open' ? 'Everyone may drive'
        : controller ? (mine ? 'You control' : `${controller.name} controls`) : 'Nobody controls';
    $('control-state').textContent = label;
    $('control-state').dataset.state = !state ? 'none' : state.mode === 'open' ? 'open' : mine ? 'mine' : controller ? 'other' : 'free';
    $('control-request').disabled = !state || mine || state.requests.some((r) => r.id === you?.id);
    $('control-release').disabled = !state || !(mine || state.requests.some((r) => r.id === you?.id));
    $('control-take').disabled = !state || mine;
    $('pointer-share').checked = Boolean(state?.pointers);
    $('pointer-share').disabled = !state || (state.mode === 'exclusive' && !mine);
    $('control-screen-note').hidden = this.mayInput();

    const requests = $('control-requests');
    requests.replaceChildren(...(state?.requests ?? []).map((request) => {
      const item = document.createElement('li');
      item.dataset.testid = 'control-request-item';
      item.append(`${request.name} asks for control `);
      if (mine) {
        for (const [action, text] of [['control:grant', 'Grant'], ['control:deny', 'Deny']]) {
          const button = document.createElement('button');
          button.type = 'button';
          button.textContent = text;
          button.dataset.testid = `${action.slice(8)}-${request.id}`;
          button.addEventListener('click', () => this.#act(action, { id: request.id }));
          item.append(button, ' ');
        }
      }
      return item;
    }));

    $('presence').replaceChildren(...this.#viewers.map((viewer) => {
      const item = document.createElement('li');
      item.dataset.testid = 'presence-item';
      item.dataset.role = viewer.role;
      const since = new Date(viewer.since).toLocaleTimeString();
      item.textContent = `${viewer.name}${viewer.id === you?.id ? ' (you)' : ''} · ${viewer.role} · since ${since}`;
      return item;
    }));
  }

  #placeDot({ id, x, y }) {
    let dot = this.#dots.get(id);
    if (!dot) {
      dot = document.createElement('span');
      dot.className = 'pointer';
      dot.dataset.testid = 'pointer';
      dot.textContent = this.#viewers.find((v) => v.id === id)?.name ?? '';
      $('pointers').append(dot);
      this.#dots.set(id, dot);
    }
    // Percentages of the picture: right at any size the picture is shown at.
    dot.style.left = `${(100 * x) / this.#page.width}%`;
    dot.style.top = `${(100 * y) / this.#page.height}%`;
  }

  #removeDot(id) {
    this.#dots.get(id)?.remove();
    this.#dots.delete(id);
  }

  #clearDots() {
    for (const id of [...this.#dots.keys()]) this.#removeDot(id);
  }
}
