import { afterEach, expect, test } from "vitest";
import { cleanup, render } from "@testing-library/svelte";
import { createRawSnippet } from "svelte";
import VirtualList from "./VirtualList.svelte";

afterEach(() => cleanup());

type Item = { id: string; n: number };
const items: Item[] = Array.from({ length: 1000 }, (_, n) => ({ id: `i${n}`, n }));
const row = createRawSnippet((item: () => Item) => ({
  render: () => `<div class="item">item ${item().n}</div>`,
}));

function shown(container: HTMLElement): number[] {
  return [...container.querySelectorAll(".item")].map((e) => Number(e.textContent?.split(" ")[1]));
}

test("renders only the rows in view plus overscan, from the top", () => {
  const { container } = render(VirtualList<Item>, {
    props: { items, key: (i: Item) => i.id, row, estimate: 20, overscan: 100, fallbackHeight: 200 },
  });
  // 200 px viewport + 100 px overscan below = rows 0-14.
  expect(shown(container)).toEqual(Array.from({ length: 15 }, (_, i) => i));
  const inner = container.querySelector(".vlist-inner") as HTMLElement;
  expect(inner.style.paddingTop).toBe("0px");
  expect(inner.style.paddingBottom).toBe(`${(1000 - 15) * 20}px`);
  expect(container.querySelector(".vlist-row")?.getAttribute("data-index")).toBe("0");
});

test("sticks to the bottom: the last rows are rendered straight away", () => {
  const { container } = render(VirtualList<Item>, {
    props: { items, key: (i: Item) => i.id, row, estimate: 20, overscan: 100, fallbackHeight: 200, stickToBottom: true },
  });
  const rows = shown(container);
  expect(rows[rows.length - 1]).toBe(999);
  expect(rows.length).toBe(15);
  const inner = container.querySelector(".vlist-inner") as HTMLElement;
  expect(inner.style.paddingBottom).toBe("0px");
  expect(inner.style.paddingTop).toBe(`${(1000 - 15) * 20}px`);
});

test("an empty list renders nothing", () => {
  const { container } = render(VirtualList<Item>, {
    props: { items: [], key: (i: Item) => i.id, row },
  });
  expect(shown(container)).toEqual([]);
});
