// Every page's strings; a section per page (see ../i18n.svelte.ts).
import common from "./common";
import shell from "./shell";
import status from "./status";
import activity from "./activity";
import home from "./home";
import peers from "./peers";
import invite from "./invite";
import settings from "./settings";
import chat from "./chat";
import skills from "./skills";
import goals from "./goals";
import receipts from "./receipts";
import insights from "./insights";
import errors from "./errors";

export type Strings = Record<string, string>;
export type Section = { en: Strings; zh: Strings };

export const sections: Record<string, Section> = {
  common,
  shell,
  status,
  activity,
  home,
  peers,
  invite,
  settings,
  chat,
  skills,
  goals,
  receipts,
  insights,
  errors,
};
