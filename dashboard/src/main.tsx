import { render } from 'preact';
import { useState } from 'preact/hooks';
import { session } from './api.ts';
import { useRoute } from './live.ts';
import { DevicePage } from './pages/device.tsx';
import { DevicesPage } from './pages/devices.tsx';
import { FleetPage } from './pages/fleet.tsx';
import { KeysPage } from './pages/keys.tsx';
import { RolloutPage } from './pages/rollout.tsx';
import { RolloutsPage } from './pages/rollouts.tsx';
import { SignIn } from './pages/sign-in.tsx';
import { StartPage } from './pages/start.tsx';

function App() {
  const [signedIn, setSignedIn] = useState(session.token() !== null);
  const route = useRoute();
  if (!signedIn) return <SignIn onSignedIn={() => setSignedIn(true)} />;
  const [page, id] = route;
  return (
    <>
      <header>
        <h1>Uproll</h1>
        <nav aria-label="main">
          <a href="#/">Fleet</a>
          <a href="#/rollouts">Rollouts</a>
          <a href="#/devices">Devices</a>
          <a href="#/keys">Keys</a>
        </nav>
        <button
          type="button"
          class="sign-out"
          onClick={() => {
            session.signOut();
            setSignedIn(false);
          }}
        >
          Sign out
        </button>
      </header>
      <main>
        {page === 'rollouts' && id === 'new' ? (
          <StartPage />
        ) : page === 'rollouts' && id ? (
          <RolloutPage key={id} rolloutId={decodeURIComponent(id)} />
        ) : page === 'rollouts' ? (
          <RolloutsPage />
        ) : page === 'devices' && id ? (
          <DevicePage key={id} deviceId={decodeURIComponent(id)} />
        ) : page === 'devices' ? (
          <DevicesPage />
        ) : page === 'keys' ? (
          <KeysPage />
        ) : (
          <FleetPage />
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
