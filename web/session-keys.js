// Keyboard, clipboard and page size on the session page, for devices without a hardware
// keyboard: a text field that opens the on-screen keyboard and forwards what is typed (text
// as `input:text`, Enter/Backspace/arrows as `input:key`), buttons for keys an on-screen
// keyboard lacks, paste into the page (`input:paste`), copy of the page's selection out
// (`clipboard:get`), and "fit" (`input:resize`: the remote page takes this screen's size).
// Kept apart from session.js, which hands over the socket and the session's size.

const $ = (id) => document.getElementById(id);

/** Keys that the field forwards as keys, not text (a phone's keyboard sends some as `beforeinput` instead). */
const KEYS = new Set(['Enter', 'Backspace', 'Delete', 'Tab', 'Escape', 'ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown', 'Home', 'End', 'PageUp', 'PageDown']);
/** `input:text` takes at most 500 characters, `input:paste` 10,000 (docs/sessions.md). */
const MAX_TEXT = 500;
const MAX_PASTE = 10_000;
/** The viewport sizes a session may have (docs/sessions.md, Create). */
const LIMITS = { width: [200, 3840], height: [200, 2160] };

export class KeysPanel {
  /**
   * @param {{emit: Function, timeout: Function}} socket
   * @param {{driving: () => boolean, say: (text: string) => void, pageSize: () => ({width: number, height: number} | undefined), setPageSize: (width: number, height: number) => void, screen: HTMLImageElement, fitTo: HTMLElement}} options
   *   `setPageSize` is told when frames show the remote page at a new size (after anyone's resize);
   *   `fitTo` is the element whose width "fit" gives the remote page.
   */
  constructor(socket, { driving, say, pageSize, setPageSize, screen, fitTo }) {
    this.socket = socket;
    this.driving = driving;
    this.say = say;
    const field = $('keys-input');
    $('keys-keyboard').addEventListener('click', () => field.focus());
    field.addEventListener('keydown', this.#fieldOnKeyDown);
    field.addEventListener('beforeinput', this.#fieldOnBeforeInput);
    field.addEventListener('compositionend', this.#fieldOnCompositionEnd);
    field.addEventListener('paste', this.#fieldOnPaste);
    for (const button of document.querySelectorAll('[data-key]')) {
      button.addEventListener('click', () => this.#send('input:key', { key: button.dataset.key }));
    }
    $('keys-paste').addEventListener('click', () => this.#pasteFromClipboard());
    $('keys-copy').addEventListener('click', () => this.#copySelection());
    $('keys-fit').addEventListener('click', async () => {
      if (!this.driving()) return say('Watching only: ask for control to drive the page');
      const clamp = (v, [min, max]) => Math.min(max, Math.max(min, Math.round(v)));
      // As wide as the picture may be shown, as tall as the screen below the picture's top: at 1:1, in one screen.
      const width = clamp(fitTo.clientWidth, LIMITS.width);
      const height = clamp(window.innerHeight - (fitTo.getBoundingClientRect().top + window.scrollY), LIMITS.height);
      const answer = await socket.timeout(10_000).emitWithAck('input:resize', { width, height }).catch((error) => ({ error: { message: error.message } }));
      if (answer?.error) return say(answer.error.message);
      // The exact size at once; the other viewers follow from the frames.
      if (pageSize()) setPageSize(width, height);
    });
    // Frames are the page's own size: when they change, someone resized it, and input must be
    // scaled to the new size. JPEG frames arrive in the <img>; H.264 ones are drawn on a canvas
    // over it (session-video.js), whose size is the decoded picture's, rounded to even numbers.
    const follow = (width, height, slack) => {
      const size = pageSize();
      if (size && width > 0 && height > 0 && (Math.abs(width - size.width) > slack || Math.abs(height - size.height) > slack)) setPageSize(width, height);
    };
    screen.addEventListener('load', () => follow(screen.naturalWidth, screen.naturalHeight, 0));
    new MutationObserver((changes) => {
      for (const { target } of changes) if (target instanceof HTMLCanvasElement) follow(target.width, target.height, 1);
    }).observe(screen.parentElement, { subtree: true, attributes: true, attributeFilter: ['width', 'height'] });
  }

  #send(event, payload) {
    if (!this.driving()) return this.say('Watching only: ask for control to drive the page');
    this.socket.emit(event, payload);
  }

  #fieldOnKeyDown = (event) => {
    if (!KEYS.has(event.key)) return;
    event.preventDefault();
    const modifiers = ['Control', 'Alt', 'Meta', 'Shift'].filter((m) => event.getModifierState(m));
    this.#send('input:key', { key: [...modifiers, event.key].join('+') });
  };

  /** What the on-screen keyboard types; the field itself stays empty (nothing is edited here). */
  #fieldOnBeforeInput = (event) => {
    // A composition (predictive text, IME) cannot be cancelled: its result comes with compositionend.
    if (event.isComposing || event.inputType === 'insertCompositionText') return;
    event.preventDefault();
    switch (event.inputType) {
      case 'insertText':
        if (event.data) this.#text(event.data);
        return;
      case 'insertLineBreak':
      case 'insertParagraph':
        return this.#send('input:key', { key: 'Enter' });
      case 'deleteContentBackward':
        return this.#send('input:key', { key: 'Backspace' });
      case 'deleteContentForward':
        return this.#send('input:key', { key: 'Delete' });
      case 'insertFromPaste':
        return this.#paste(event.dataTransfer?.getData('text/plain') ?? '');
    }
  };

  #fieldOnCompositionEnd = (event) => {
    if (event.data) this.#text(event.data);
    event.target.value = '';
  };

  #fieldOnPaste = (event) => {
    event.preventDefault();
    this.#paste(event.clipboardData?.getData('text/plain') ?? '');
  };

  #text(text) {
    for (let i = 0; i < text.length; i += MAX_TEXT) this.#send('input:text', { text: text.slice(i, i + MAX_TEXT) });
  }

  #paste(text) {
    if (!text) return;
    if (text.length > MAX_PASTE) this.say(`Only the first ${MAX_PASTE} characters were pasted`);
    this.#send('input:paste', { text: text.slice(0, MAX_PASTE) });
  }

  /** The Paste button: reading the clipboard needs the browser's permission (and a secure origin). */
  async #pasteFromClipboard() {
    try {
      this.#paste(await navigator.clipboard.readText());
    } catch {
      this.say('This browser does not let the page read the clipboard: tap Keyboard, then paste into the field');
    }
  }

  /** The Copy button: the page's selection, into the clipboard where the browser allows it, and shown either way. */
  async #copySelection() {
    const answer = await this.socket.timeout(10_000).emitWithAck('clipboard:get', {}).catch((error) => ({ error: { message: error.message } }));
    if (answer?.error) return this.say(answer.error.message);
    const copied = $('keys-copied');
    copied.value = answer.text;
    copied.hidden = false;
    try {
      await navigator.clipboard.writeText(answer.text);
      this.say(answer.text ? 'Copied the page\'s selection' : 'Nothing is selected in the page');
    } catch {
      // Shown and selected, for the phone's own copy.
      copied.select();
      this.say('This browser does not let the page write the clipboard: the selection is shown below, copy it from there');
    }
  }
}
