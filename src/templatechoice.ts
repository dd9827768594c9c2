/**
 * The create form's template menu: an entry is "server:NAME" (a template the
 * server offers) or "user:NAME" (one from the user's settings, which may name
 * a server template).  Choosing one fills the form from it.  Pure.
 */
import { formValuesFromOptions } from './forms';
import { ICreateFormValues } from './types';

/** A template from the user's settings: form values plus an optional server template. */
export interface IUserTemplate {
  name: string;
  description?: string;
  template?: string;
  image?: string;
  n_workers?: number;
  resources?: { requests?: { [k: string]: string }; limits?: { [k: string]: string } };
  env?: { [k: string]: string };
}

/** A server template, as far as the menu needs it (api.ts's IClusterTemplate fits). */
export interface IServerTemplate {
  name: string;
  description?: string;
  options?: { [key: string]: any };
}

/** The templates a menu entry can name. */
export interface ITemplateSources {
  server: IServerTemplate[];
  user: IUserTemplate[];
}

const SERVER = 'server:';
const USER = 'user:';

function parse(choice: string): { kind: 'server' | 'user' | null; name: string } {
  if (choice.startsWith(SERVER)) return { kind: 'server', name: choice.slice(SERVER.length) };
  if (choice.startsWith(USER)) return { kind: 'user', name: choice.slice(USER.length) };
  return { kind: null, name: '' };
}

/** The menu entry for a template name (a server template first), or '' if there is none. */
export function choiceFor(name: string | undefined, sources: ITemplateSources): string {
  if (!name) return '';
  if (sources.server.some(t => t.name === name)) return SERVER + name;
  if (sources.user.some(t => t.name === name)) return USER + name;
  return '';
}

/** The menu entry's value for the server's `template` field ('' for none). */
export function serverTemplateOf(choice: string, sources: ITemplateSources): string {
  const { kind, name } = parse(choice);
  if (kind === 'server') return name;
  if (kind === 'user') return sources.user.find(t => t.name === name)?.template ?? '';
  return '';
}

/** The description shown under the menu for an entry. */
export function descriptionOf(choice: string, sources: ITemplateSources): string | undefined {
  const { kind, name } = parse(choice);
  const list: { name: string; description?: string }[] =
    kind === 'server' ? sources.server : kind === 'user' ? sources.user : [];
  return list.find(t => t.name === name)?.description;
}

/**
 * The form values once an entry is chosen: a server template's options over
 * the current values; for a user template, its server template's options and
 * then its own.  Fields a template leaves out keep what was typed.
 */
export function valuesForChoice(
  values: ICreateFormValues,
  choice: string,
  sources: ITemplateSources
): ICreateFormValues {
  const { kind, name } = parse(choice);
  const server = (n: string | undefined) => sources.server.find(t => t.name === n)?.options;
  if (kind === 'server') return formValuesFromOptions(values, server(name));
  if (kind === 'user') {
    const u = sources.user.find(t => t.name === name);
    if (u) return formValuesFromOptions(formValuesFromOptions(values, server(u.template)), u);
  }
  return values;
}
