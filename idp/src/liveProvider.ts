import type { Middleware } from 'koa';
import mount from 'koa-mount';
import type Provider from 'oidc-provider';
import type { Jwks } from './keyring.ts';

/**
 * oidc-provider takes its keys once, at construction: the keystore is internal and has no public way
 * to change it (its author's advice is a rolling restart: panva/node-oidc-provider#651, #449). So a
 * key change builds a new Provider with the same configuration, adapter and cookie keys, and swaps
 * it in between requests: a request runs entirely on the provider that was in force when it arrived,
 * the next one on the new provider. Nothing else is per provider (sessions, tokens and clients live
 * in the store), so nothing else changes.
 */
export class LiveProvider {
  #provider: Provider;
  #dispatch: Middleware;

  constructor(
    private readonly build: (jwks: Jwks) => Provider,
    jwks: Jwks,
  ) {
    this.#provider = build(jwks);
    this.#dispatch = mount(this.#provider) // at '/': just the provider's composed middleware;
  }

  get current(): Provider {
    return this.#provider;
  }

  /** Builds the provider for `jwks` and puts it in force; throws (keeping the old one) if it cannot be built. */
  replace(jwks: Jwks): void {
    const provider = this.build(jwks);
    const dispatch = mount(provider);
    [this.#provider, this.#dispatch] = [provider, dispatch];
  }

  /** The provider's koa middleware (mount it where the provider was mounted). */
  middleware(): Middleware {
    return (ctx, next) => this.#dispatch(ctx, next);
  }

  /**
   * A Provider-shaped view for code that holds a provider (the admin API, the interaction routes):
   * every property is read from the provider in force, and its methods are called on it (they use
   * private fields, so `this` must be the provider itself, never the view). Model classes
   * (`Client`, `Grant`, ...) are getters and come back as they are.
   */
  view(): Provider {
    return new Proxy({} as Provider, {
      get: (_target, property) => {
        const provider = this.#provider;
        const value = Reflect.get(provider, property, provider) as unknown;
        return typeof value === 'function' && isMethod(provider, property) ? (value as (...args: unknown[]) => unknown).bind(provider) : value;
      },
    });
  }
}

function isMethod(object: object, property: PropertyKey): boolean {
  for (let o: object | null = object; o; o = Object.getPrototypeOf(o) as object | null) {
    const descriptor = Object.getOwnPropertyDescriptor(o, property);
    if (descriptor) return 'value' in descriptor;
  }
  return false;
}
