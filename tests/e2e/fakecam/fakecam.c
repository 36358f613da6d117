/* A fake webcam for the end-to-end test: a GStreamer plugin with a device provider that lists one
 * camera, "CoWorker Test Camera", whose picture is the PNG file named by $FAKECAM_IMAGE, shown as
 * live 640x480 video. WebKitGTK finds cameras with a GstDeviceMonitor on "Video/Source" devices
 * (WebCore's GStreamerCaptureDeviceManager), so with this plugin on GST_PLUGIN_PATH the app's
 * getUserMedia() opens it through WebKit's real capture path, as it would a USB webcam.
 *
 * The image is read each time the camera is opened: the test may change the file in between.
 *
 * Build: gcc -shared -fPIC -o libgstfakecam.so fakecam.c $(pkg-config --cflags --libs gstreamer-1.0)
 * Needs at run time: filesrc (core), pngdec and imagefreeze (plugins-good), videoconvert,
 * videoscale and videorate (plugins-base). */
#include <gst/gst.h>

#define CAPS "video/x-raw,format=I420,width=640,height=480,framerate=30/1"

/* ---- The camera's source element: a bin whose pad is named "src", as WebKit's capturer
 * expects (GStreamerCapturer::createSource looks that pad up and sets "do-timestamp"). */

typedef struct {
  GstBin parent;
  gboolean do_timestamp; /* accepted and ignored: imagefreeze stamps the frames itself */
} FakeCamSrc;
typedef struct {
  GstBinClass parent_class;
} FakeCamSrcClass;

G_DEFINE_TYPE (FakeCamSrc, fake_cam_src, GST_TYPE_BIN)

enum { PROP_0, PROP_DO_TIMESTAMP };

static void
fake_cam_src_set_property (GObject *object, guint id, const GValue *value, GParamSpec *pspec)
{
  if (id == PROP_DO_TIMESTAMP)
    ((FakeCamSrc *) object)->do_timestamp = g_value_get_boolean (value);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
}

static void
fake_cam_src_get_property (GObject *object, guint id, GValue *value, GParamSpec *pspec)
{
  if (id == PROP_DO_TIMESTAMP)
    g_value_set_boolean (value, ((FakeCamSrc *) object)->do_timestamp);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, id, pspec);
}

static void
fake_cam_src_class_init (FakeCamSrcClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->set_property = fake_cam_src_set_property;
  object_class->get_property = fake_cam_src_get_property;
  g_object_class_install_property (object_class, PROP_DO_TIMESTAMP,
      g_param_spec_boolean ("do-timestamp", "Do timestamp", "Ignored", FALSE, G_PARAM_READWRITE));
  gst_element_class_set_static_metadata (GST_ELEMENT_CLASS (klass), "Fake camera source",
      "Source/Video", "A PNG image as live camera video", "CoWorker tests");
}

static GstElement *
make (GstBin *bin, const gchar *factory)
{
  GstElement *element = gst_element_factory_make (factory, NULL);
  if (element == NULL)
    g_error ("fakecam: no GStreamer element '%s' (install gstreamer1.0-plugins-base/-good)", factory);
  gst_bin_add (bin, element);
  return element;
}

/* filesrc ! pngdec ! imagefreeze ! videoconvert ! videoscale ! videorate ! videoconvert ! capsfilter
 * The capsfilter fixes exactly the caps the device advertises (format included): with caps left
 * open, WebKit's capture pipeline never negotiated and no frame arrived. The image is scaled to
 * fit, with borders, so a square QR code stays square. */
static void
fake_cam_src_init (FakeCamSrc *self)
{
  GstBin *bin = GST_BIN (self);
  const gchar *image = g_getenv ("FAKECAM_IMAGE");
  GstElement *file = make (bin, "filesrc");
  GstElement *decode = make (bin, "pngdec");
  GstElement *freeze = make (bin, "imagefreeze");
  GstElement *convert_in = make (bin, "videoconvert");
  GstElement *scale = make (bin, "videoscale");
  GstElement *rate = make (bin, "videorate");
  GstElement *convert_out = make (bin, "videoconvert");
  GstElement *filter = make (bin, "capsfilter");
  GstCaps *caps = gst_caps_from_string (CAPS ",pixel-aspect-ratio=1/1");
  GstPad *pad;

  g_object_set (file, "location", image != NULL ? image : "fakecam.png", NULL);
  g_object_set (freeze, "is-live", TRUE, NULL);
  g_object_set (filter, "caps", caps, NULL);
  gst_caps_unref (caps);
  if (!gst_element_link_many (file, decode, freeze, convert_in, scale, rate, convert_out, filter, NULL))
    g_error ("fakecam: cannot link the camera's elements");

  pad = gst_element_get_static_pad (filter, "src");
  gst_element_add_pad (GST_ELEMENT (self), gst_ghost_pad_new ("src", pad));
  gst_object_unref (pad);
}

/* ---- The device. */

typedef struct {
  GstDevice parent;
} FakeCamDevice;
typedef struct {
  GstDeviceClass parent_class;
} FakeCamDeviceClass;

G_DEFINE_TYPE (FakeCamDevice, fake_cam_device, GST_TYPE_DEVICE)

static GstElement *
fake_cam_device_create_element (GstDevice *device, const gchar *name)
{
  return gst_element_factory_make ("fakecamsrc", name);
}

static void
fake_cam_device_class_init (FakeCamDeviceClass *klass)
{
  GST_DEVICE_CLASS (klass)->create_element = fake_cam_device_create_element;
}

static void
fake_cam_device_init (FakeCamDevice *device)
{
}

/* ---- The provider: always exactly one camera, the default one. */

typedef struct {
  GstDeviceProvider parent;
} FakeCamProvider;
typedef struct {
  GstDeviceProviderClass parent_class;
} FakeCamProviderClass;

G_DEFINE_TYPE (FakeCamProvider, fake_cam_provider, GST_TYPE_DEVICE_PROVIDER)

static GList *
fake_cam_provider_probe (GstDeviceProvider *provider)
{
  GstCaps *caps = gst_caps_from_string (CAPS);
  GstStructure *properties = gst_structure_new ("fakecam", "is-default", G_TYPE_BOOLEAN, TRUE, NULL);
  GstDevice *device = g_object_new (fake_cam_device_get_type (), "display-name", "CoWorker Test Camera",
      "device-class", "Video/Source", "caps", caps, "properties", properties, NULL);
  gst_caps_unref (caps);
  gst_structure_free (properties);
  return g_list_append (NULL, gst_object_ref_sink (device));
}

static void
fake_cam_provider_class_init (FakeCamProviderClass *klass)
{
  GstDeviceProviderClass *provider_class = GST_DEVICE_PROVIDER_CLASS (klass);
  provider_class->probe = fake_cam_provider_probe;
  gst_device_provider_class_set_static_metadata (provider_class, "Fake camera provider",
      "Source/Video", "One fake camera showing a PNG image", "CoWorker tests");
}

static void
fake_cam_provider_init (FakeCamProvider *provider)
{
}

static gboolean
plugin_init (GstPlugin *plugin)
{
  return gst_element_register (plugin, "fakecamsrc", GST_RANK_NONE, fake_cam_src_get_type ())
      && gst_device_provider_register (plugin, "fakecamdeviceprovider", GST_RANK_PRIMARY,
          fake_cam_provider_get_type ());
}

#define PACKAGE "coworker-fakecam"
GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, fakecam, "A fake webcam for CoWorker's tests",
    plugin_init, "1.0", "MIT/X11", PACKAGE, "tests/e2e/fakecam")
