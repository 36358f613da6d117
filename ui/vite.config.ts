import { defineConfig } from "vite";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// The app's build. Tauri loads ui/dist (see tauri.conf.json); `npm run dev` serves the same UI
// on 127.0.0.1:1420 for an app built with `--no-default-features`.
export default defineConfig({
  plugins: [svelte()],
  clearScreen: false,
  server: { port: 1420, strictPort: true, host: "127.0.0.1" },
  build: { target: "es2022", outDir: "dist", emptyOutDir: true },
});
