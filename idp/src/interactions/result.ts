import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';

export type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;
type Client = Awaited<ReturnType<Provider['Client']['find']>>;

/** What routes.ts loaded for this request: the interaction in the path, and the name of its client. */
export function loaded(ctx: Context): { interaction: Interaction; uid: string; clientName: string } {
  const interaction = ctx.state.interaction as Interaction;
  const client = ctx.state.client as Client;
  return { interaction, uid: interaction.uid, clientName: client?.clientName ?? (interaction.params.client_id as string) };
}

/** Hands the interaction's result to oidc-provider and sends the browser back to it. */
export async function finish(provider: Provider, ctx: Context, result: InteractionResults, merge: boolean): Promise<void> {
  const redirectTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
  ctx.status = 303;
  ctx.redirect(redirectTo);
}
