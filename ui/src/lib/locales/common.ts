export default {
  en: {
    untrusted: "Untrusted",
    known: "Known",
    internal: "Internal",
    privileged: "Privileged",
    you: "You",
    loading: "Loading…",
    cancel: "Cancel",
    confirm: "Confirm",
    retry: "Retry",
    // Between two sentences shown together: a space in English, nothing after "。".
    sentenceGap: " ",
  },
  zh: {
    untrusted: "不受信任",
    known: "已知",
    internal: "内部",
    privileged: "特权",
    you: "你",
    loading: "加载中…",
    cancel: "取消",
    confirm: "确认",
    retry: "重试",
    sentenceGap: "",
  },
};
