// The sign-in form: an API key, checked against the server, then kept in sessionStorage.

import { h, field } from '../dom.js';
import { errorBox } from '../render.js';

export function signInPage(initialError, onSubmit) {
  const input = h('input', {
    type: 'password',
    name: 'api-key',
    id: 'api-key',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'wk_…',
    required: true,
    testid: 'api-key',
  });
  const status = h('div.form-status', { 'aria-live': 'polite' });
  if (initialError) status.append(errorBox(initialError));
  const submit = h('button', { type: 'submit', testid: 'sign-in' }, 'Sign in');
  const form = h(
    'form.card.signin',
    {
      testid: 'sign-in-form',
      'aria-labelledby': 'signin-title',
      on: {
        submit: async (e) => {
          e.preventDefault();
          const key = input.value.trim();
          status.replaceChildren();
          if (!key) return;
          submit.disabled = true;
          try {
            await onSubmit(key);
          } catch (err) {
            status.append(errorBox(err));
            input.select();
          } finally {
            submit.disabled = false;
          }
        },
      },
    },
    h('h1#signin-title', 'Sign in to warden'),
    h(
      'p.muted',
      'Paste an API key made with ',
      h('code', 'warden keys create --tenant NAME'),
      '. It is kept in this tab only (sessionStorage) and sent only in the Authorization header.',
    ),
    field('API key', input),
    submit,
    status,
  );
  setTimeout(() => input.focus(), 0);
  return h('main.main.signin-wrap', form);
}
